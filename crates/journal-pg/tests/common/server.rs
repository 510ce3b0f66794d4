//! A throwaway PostgreSQL server for tests and the load example: `initdb` a cluster in a temp dir, start it
//! on a free loopback port with `fsync=on`, stop it and delete the dir when dropped.
//!
//! `initdb` refuses to run as root, so when the process is root every PostgreSQL binary runs as the
//! `postgres` OS user through `runuser -u postgres --`, in a temp dir owned by that user. A watchdog shell
//! stops the server if this process dies without running its destructors (SIGKILL, abort), so no
//! postmaster outlives the tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

/// How many ports are tried before giving up when the chosen one is taken between probe and bind.
const PORT_ATTEMPTS: usize = 5;

/// Overrides the search below with one directory (which must hold `initdb` and `pg_ctl`). Also the way
/// to check the no-PostgreSQL paths of the tests: point it at an empty directory.
pub const BIN_ENV: &str = "CLEARHOUSE_TEST_PG_BIN";

/// Finds a directory holding `initdb` and `pg_ctl`: [`BIN_ENV`] if set, else the highest version under
/// `/usr/lib/postgresql/*/bin` (Debian and Ubuntu), else the first such directory on `PATH`.
pub fn find_bin_dir() -> Option<PathBuf> {
    let has_tools = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Some(dir) = std::env::var_os(BIN_ENV) {
        let dir = PathBuf::from(dir);
        return has_tools(&dir).then_some(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version: u32 = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            has_tools(&bin).then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).find(|dir| has_tools(dir))
}

fn is_root() -> bool {
    unsafe extern "C" {
        fn geteuid() -> u32;
    }
    // SAFETY: geteuid has no preconditions and cannot fail (POSIX).
    unsafe { geteuid() == 0 }
}

/// Binds 127.0.0.1:0 to let the kernel pick a free port, then releases it for the server.
fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("probe a free port: {e}"))?;
    listener.local_addr().map(|a| a.port()).map_err(|e| format!("read probed port: {e}"))
}

/// A running throwaway server. Dropping it stops the server and deletes its directory.
pub struct PgServer {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    as_postgres_user: bool,
    stopped: bool,
}

impl PgServer {
    /// Creates a cluster and starts it. Takes a second or two.
    pub fn start(bin: &Path) -> Result<PgServer, String> {
        let as_postgres_user = is_root();
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
        // /tmp rather than $TMPDIR when root: the postgres user must be able to traverse every parent.
        let base = if as_postgres_user { PathBuf::from("/tmp") } else { std::env::temp_dir() };
        let dir = base.join(format!("clearhouse-pg-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
        let mut server = PgServer { bin: bin.to_path_buf(), dir, port: 0, as_postgres_user, stopped: false };
        if as_postgres_user {
            run(Command::new("chown").arg("postgres:postgres").arg(&server.dir), "chown the cluster dir to postgres")?;
        }
        server.spawn_watchdog();
        let data = server.data_dir();
        // --no-sync: the cluster is throwaway, so initdb need not fsync its files; the running server
        // does fsync (fsync=on), which is what the journal's durability rests on. -k: page checksums.
        let mut initdb = server.pg_command("initdb");
        initdb.arg("-D").arg(&data).args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync", "-k"]);
        run(&mut initdb, "initdb")?;
        let mut last_err = String::new();
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port()?;
            match server.start_on(port, "") {
                Ok(()) => {
                    server.port = port;
                    return Ok(server);
                }
                Err(e) => last_err = e,
            }
        }
        Err(last_err)
    }

    /// Starts the server; `extra` server options come last, so they override the defaults.
    fn start_on(&self, port: u16, extra: &str) -> Result<(), String> {
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {port} -k {} -c fsync=on -c synchronous_commit=on -c max_connections=60 \
             -c shared_buffers=64MB {extra}",
            self.dir.display()
        );
        let mut start = self.pg_command("pg_ctl");
        start.arg("-D").arg(self.data_dir()).arg("-l").arg(self.dir.join("server.log")).args(["-w", "-t", "60", "-o", &options, "start"]);
        run(&mut start, "pg_ctl start").map_err(|e| {
            let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
            format!("{e}\nserver log:\n{log}")
        })
    }

    /// Stops the server cleanly (a shutdown checkpoint writes every page to disk and empties the buffer
    /// cache), lets `damage` edit files of the data directory, and starts the server again on the same port.
    pub fn restart_with(&mut self, damage: impl FnOnce(&Path)) -> Result<(), String> {
        self.restart(damage, "")
    }

    /// Restarts the server with extra server options (e.g. `-c fsync=off`); a later plain restart drops them.
    pub fn restart_with_options(&mut self, extra: &str) -> Result<(), String> {
        self.restart(|_| {}, extra)
    }

    fn restart(&mut self, damage: impl FnOnce(&Path), extra: &str) -> Result<(), String> {
        let mut stop = self.pg_command("pg_ctl");
        stop.arg("-D").arg(self.data_dir()).args(["-w", "-t", "60", "-m", "fast", "stop"]);
        run(&mut stop, "pg_ctl stop")?;
        damage(&self.data_dir());
        self.start_on(self.port, extra)
    }

    /// A connection string for the `postgres` database as the `postgres` superuser.
    pub fn conninfo(&self) -> String {
        format!("host=127.0.0.1 port={} user=postgres dbname=postgres", self.port)
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn pg_command(&self, tool: &str) -> Command {
        let exe = self.bin.join(tool);
        if self.as_postgres_user {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(exe);
            cmd
        } else {
            Command::new(exe)
        }
    }

    /// Stops the server if this process dies without dropping it: polls our pid once a second.
    fn spawn_watchdog(&self) {
        let stop = format!(
            "{}{} -D {} stop -m immediate",
            if self.as_postgres_user { "runuser -u postgres -- " } else { "" },
            self.bin.join("pg_ctl").display(),
            self.data_dir().display()
        );
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; if [ -d {data} ]; then {stop} >/dev/null 2>&1; rm -rf {dir}; fi",
            pid = std::process::id(),
            data = self.data_dir().display(),
            dir = self.dir.display(),
        );
        // The watchdog is detached on purpose: it must outlive this process.
        let _ = Command::new("sh").args(["-c", &script]).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn();
    }

    /// Stops the server (fast shutdown) and deletes its directory. Idempotent.
    pub fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        let data = self.data_dir();
        if self.port != 0 {
            let mut stop = self.pg_command("pg_ctl");
            stop.arg("-D").arg(&data).args(["-w", "-t", "30", "-m", "fast", "stop"]);
            let _ = stop.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run(cmd: &mut Command, what: &str) -> Result<(), String> {
    let out = cmd.stdin(Stdio::null()).output().map_err(|e| format!("{what}: cannot run: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{what} failed ({}):\n{}\n{}", out.status, String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
    }
}
