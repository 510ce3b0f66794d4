//! `clearhouse cover2 --emit-commands --first-id N`: the cover-2 add-ons as operator commands
//! (`set_margin_add_on`, one JSON envelope a line, ids from `N`) that make the installed add-ons
//! exactly the report's: one per owner the report charges, and `"0"` for every owner holding an
//! add-on the report no longer charges. Applied with `clearhouse run FILE` or `serve --stdin`
//! (docs/liquidation.md, "Margin add-ons").

use engine::{Command, DEFAULT_PRINCIPAL, Envelope};
use std::collections::BTreeMap;

/// The envelopes, in owner order; `installed`: the add-ons in force, `report`: cover-2's.
pub fn add_on_commands(report: &[(String, String)], installed: &[(String, String)], first_id: u64) -> Vec<Envelope> {
    let mut wanted: BTreeMap<&str, &str> = installed.iter().map(|(o, _)| (o.as_str(), "0")).collect();
    wanted.extend(report.iter().map(|(o, a)| (o.as_str(), a.as_str())));
    wanted
        .into_iter()
        .zip(first_id..)
        .map(|((owner, amount), id)| Envelope {
            client: DEFAULT_PRINCIPAL.into(),
            id,
            command: Command::SetMarginAddOn { owner: owner.into(), amount_usd: amount.into() },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_batch_sets_the_report_and_clears_what_it_no_longer_charges() {
        let report = vec![("bob".to_string(), "120.5".to_string()), ("carol".to_string(), "30".to_string())];
        let installed = vec![("alice".to_string(), "10".to_string()), ("bob".to_string(), "99".to_string())];
        let lines: Vec<String> = add_on_commands(&report, &installed, 7).iter().map(|e| serde_json::to_string(e).unwrap()).collect();
        assert_eq!(
            lines,
            [
                r#"{"client":"operator","id":7,"command":{"type":"set_margin_add_on","owner":"alice","amount_usd":"0"}}"#,
                r#"{"client":"operator","id":8,"command":{"type":"set_margin_add_on","owner":"bob","amount_usd":"120.5"}}"#,
                r#"{"client":"operator","id":9,"command":{"type":"set_margin_add_on","owner":"carol","amount_usd":"30"}}"#,
            ]
        );
    }
}
