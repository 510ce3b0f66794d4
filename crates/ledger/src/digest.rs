//! A multiset hash: the sum modulo 2^256 of 32-byte element hashes. Adding and removing an
//! element are inverse operations and the result does not depend on their order, so a large
//! state can keep a canonical digest up to date at the cost of one hash per changed element.

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MultisetDigest {
    limbs: [u64; 4],
}

impl MultisetDigest {
    pub fn add(&mut self, element: &[u8; 32]) {
        let mut carry = false;
        for (i, limb) in self.limbs.iter_mut().enumerate() {
            let other = u64::from_le_bytes(limb_bytes(element, i));
            let (sum, c1) = limb.overflowing_add(other);
            let (sum, c2) = sum.overflowing_add(carry as u64);
            *limb = sum;
            carry = c1 || c2;
        }
    }

    pub fn remove(&mut self, element: &[u8; 32]) {
        let mut borrow = false;
        for (i, limb) in self.limbs.iter_mut().enumerate() {
            let other = u64::from_le_bytes(limb_bytes(element, i));
            let (diff, b1) = limb.overflowing_sub(other);
            let (diff, b2) = diff.overflowing_sub(borrow as u64);
            *limb = diff;
            borrow = b1 || b2;
        }
    }

    pub fn to_bytes(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (i, limb) in self.limbs.iter().enumerate() {
            out[i * 8..i * 8 + 8].copy_from_slice(&limb.to_le_bytes());
        }
        out
    }
}

fn limb_bytes(element: &[u8; 32], i: usize) -> [u8; 8] {
    let mut b = [0u8; 8];
    b.copy_from_slice(&element[i * 8..i * 8 + 8]);
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_and_remove_are_inverse_and_order_free() {
        let a = [0xffu8; 32];
        let b = [1u8; 32];
        let mut x = MultisetDigest::default();
        x.add(&a);
        x.add(&b);
        let mut y = MultisetDigest::default();
        y.add(&b);
        y.add(&a);
        assert_eq!(x, y);
        x.remove(&a);
        let mut z = MultisetDigest::default();
        z.add(&b);
        assert_eq!(x, z);
        x.remove(&b);
        assert_eq!(x, MultisetDigest::default());
    }
}
