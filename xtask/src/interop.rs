//! `cargo xtask interop`: gRPC's interop suite, both ways, between grpcx and
//! the grpcio peer in `tests/interop/`.
//!
//! 1. `tests/interop/setup_venv.sh` makes the Python virtualenv (its stdout
//!    is the venv's python).
//! 2. `cargo build -p grpcx-interop --bins`.
//! 3. Our `interop-client --test_case all` against `interop_server.py`.
//! 4. `interop_client.py --test_case all` against our `interop-server`.
//! 5. `reflection_check.py` (grpcio's reflection and health clients)
//!    against our `interop-server`.
//!
//! Every run happens even when an earlier one fails. Each server is started
//! with `--port 0` and found through the `listening on HOST:PORT` line it
//! prints; it is killed when its direction is over, also on failure. Every
//! wait is bounded.

use std::io::{BufRead as _, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::{Result, describe};

/// How long making the virtualenv may take (it may install from PyPI).
const SETUP_TIMEOUT: Duration = Duration::from_secs(600);
/// How long a server may take to print its `listening on` line.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a client may take for every case (each client bounds its own
/// cases and calls well within this).
const CLIENT_TIMEOUT: Duration = Duration::from_secs(20 * 60);

pub(crate) fn run(root: &Path) -> Result {
    let python = setup_venv(root)?;
    crate::cargo(&["build", "-p", "grpcx-interop", "--bins"], &[])?;
    let bin_dir = target_dir(root).join("debug");
    let rust_client = bin_dir.join(format!("interop-client{}", std::env::consts::EXE_SUFFIX));
    let rust_server = bin_dir.join(format!("interop-server{}", std::env::consts::EXE_SUFFIX));
    let interop_dir = root.join("tests/interop");

    let mut failures = Vec::new();

    let direction = "grpcx client -> grpcio server";
    let mut server = Command::new(&python);
    server
        .arg(interop_dir.join("interop_server.py"))
        .args(["--port", "0"]);
    let mut client = Command::new(&rust_client);
    client.args(["--test_case", "all"]);
    if let Err(err) = run_direction(root, direction, server, client) {
        failures.push(format!("{direction}: {err}"));
    }

    let direction = "grpcio client -> grpcx server";
    let mut server = Command::new(&rust_server);
    server.args(["--port", "0"]);
    let mut client = Command::new(&python);
    client
        .arg(interop_dir.join("interop_client.py"))
        .args(["--test_case", "all"]);
    if let Err(err) = run_direction(root, direction, server, client) {
        failures.push(format!("{direction}: {err}"));
    }

    let direction = "grpcio reflection and health clients -> grpcx server";
    let mut server = Command::new(&rust_server);
    server.args(["--port", "0"]);
    let mut client = Command::new(&python);
    client.arg(interop_dir.join("reflection_check.py"));
    if let Err(err) = run_direction(root, direction, server, client) {
        failures.push(format!("{direction}: {err}"));
    }

    if failures.is_empty() {
        eprintln!("interop: every run passed");
        Ok(())
    } else {
        Err(format!("interop failed:\n  {}", failures.join("\n  ")))
    }
}

/// Runs `tests/interop/setup_venv.sh`; returns the venv's python.
fn setup_venv(root: &Path) -> Result<PathBuf> {
    let mut cmd = Command::new(root.join("tests/interop/setup_venv.sh"));
    cmd.current_dir(root).stdout(Stdio::piped());
    eprintln!("$ {}", describe(&cmd));
    let mut child = cmd
        .spawn()
        .map_err(|err| format!("could not run `{}`: {err}", describe(&cmd)))?;
    let stdout = read_all_in_background(child.stdout.take());
    let status = wait_with_timeout(&mut child, SETUP_TIMEOUT, &describe(&cmd))?;
    let stdout = stdout.join().unwrap_or_default();
    if !status.success() {
        return Err(format!("`{}` failed: {status}", describe(&cmd)));
    }
    let python = stdout.trim();
    if python.is_empty() {
        return Err(format!(
            "`{}` printed no python path on stdout",
            describe(&cmd)
        ));
    }
    Ok(PathBuf::from(python))
}

/// Starts `server`, runs `client` against it, and reports the failed cases.
fn run_direction(root: &Path, direction: &str, server: Command, mut client: Command) -> Result {
    eprintln!("\ninterop: {direction}");
    let server = Server::start(root, server)?;
    client
        .args(["--server_host", &server.host, "--server_port", &server.port])
        .current_dir(root)
        .stdout(Stdio::piped());
    let client_text = describe(&client);
    eprintln!("$ {client_text}");
    let mut child = client
        .spawn()
        .map_err(|err| format!("could not run `{client_text}`: {err}"))?;
    let lines = echo_lines_in_background(child.stdout.take(), direction);
    let status = wait_with_timeout(&mut child, CLIENT_TIMEOUT, &client_text);
    // Stop the server before judging, so its logs end before the verdict.
    drop(server);
    let status = status?;
    let lines = lines.join().unwrap_or_default();

    match verdict(&lines, status) {
        Ok(summary) => {
            eprintln!("interop: {direction}: {summary}");
            Ok(())
        }
        Err(err) => Err(err),
    }
}

/// Judges a client's run from its stdout and exit status: the summary line
/// when every case passed, else which cases failed.
fn verdict(lines: &[String], status: ExitStatus) -> Result<String> {
    let failed: Vec<&str> = lines
        .iter()
        .filter_map(|line| line.strip_prefix("FAIL "))
        .map(|rest| rest.split_once(':').map_or(rest, |(case, _)| case))
        .collect();
    if !failed.is_empty() {
        return Err(format!(
            "{} case(s) failed: {}",
            failed.len(),
            failed.join(", ")
        ));
    }
    if !status.success() {
        return Err(format!("the client exited with {status}"));
    }
    let passed = lines
        .iter()
        .filter(|line| line.starts_with("PASS "))
        .count();
    match lines.iter().rev().find(|line| line.ends_with(" failed")) {
        Some(summary) if *summary == format!("{passed} passed, 0 failed") && passed > 0 => {
            Ok(summary.clone())
        }
        Some(summary) => Err(format!(
            "the client reported {summary:?} after {passed} PASS lines"
        )),
        None => Err("the client printed no summary line".to_owned()),
    }
}

/// A server process, killed when dropped.
struct Server {
    child: Child,
    host: String,
    port: String,
}

impl Server {
    /// Starts the server and waits for its `listening on HOST:PORT` line.
    fn start(root: &Path, mut cmd: Command) -> Result<Server> {
        cmd.current_dir(root).stdout(Stdio::piped());
        let text = describe(&cmd);
        eprintln!("$ {text}");
        let mut child = cmd
            .spawn()
            .map_err(|err| format!("could not run `{text}`: {err}"))?;
        let lines = send_lines_in_background(child.stdout.take());
        // From here on, the guard kills the server whatever happens.
        let mut server = Server {
            child,
            host: String::new(),
            port: String::new(),
        };
        let deadline = Instant::now() + LISTEN_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) => {
                    eprintln!("server: {line}");
                    if let Some(addr) = line.strip_prefix("listening on ") {
                        let (host, port) = split_host_port(addr.trim())
                            .ok_or_else(|| format!("`{text}` printed a bad address: {line:?}"))?;
                        server.host = host;
                        server.port = port;
                        return Ok(server);
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    return Err(format!(
                        "`{text}` printed no `listening on` line within {LISTEN_TIMEOUT:?}"
                    ));
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = wait_with_timeout(&mut server.child, LISTEN_TIMEOUT, &text)?;
                    return Err(format!(
                        "`{text}` exited ({status}) before printing `listening on`"
                    ));
                }
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// `HOST:PORT` (the port follows the last colon; an IPv6 host may be in
/// brackets, which are removed).
fn split_host_port(addr: &str) -> Option<(String, String)> {
    let (host, port) = addr.rsplit_once(':')?;
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if host.is_empty() {
        return None;
    }
    Some((host.to_owned(), port.to_owned()))
}

/// Waits for `child` to exit, killing it after `timeout`.
fn wait_with_timeout(child: &mut Child, timeout: Duration, what: &str) -> Result<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(status),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("`{what}` did not finish within {timeout:?}"));
            }
            Ok(None) => thread::sleep(Duration::from_millis(50)),
            Err(err) => return Err(format!("could not wait for `{what}`: {err}")),
        }
    }
}

/// Reads a whole pipe on a thread, so the child never blocks on it.
fn read_all_in_background(stdout: Option<ChildStdout>) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut stdout) = stdout {
            let _ = stdout.read_to_string(&mut text);
        }
        text
    })
}

/// Echoes a client's stdout line by line as it comes, and keeps the lines.
fn echo_lines_in_background(
    stdout: Option<ChildStdout>,
    direction: &str,
) -> thread::JoinHandle<Vec<String>> {
    let prefix = format!("[{direction}] ");
    thread::spawn(move || {
        let mut lines = Vec::new();
        if let Some(stdout) = stdout {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                println!("{prefix}{line}");
                lines.push(line);
            }
        }
        lines
    })
}

/// Sends a server's stdout line by line on a channel, and keeps draining it
/// after the receiver is gone.
fn send_lines_in_background(stdout: Option<ChildStdout>) -> mpsc::Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        if let Some(stdout) = stdout {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = sender.send(line);
            }
        }
    });
    receiver
}

/// The cargo target directory: `$CARGO_TARGET_DIR`, else `target/`.
fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root.join(dir),
        None => root.join("target"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_owned).collect()
    }

    #[cfg(unix)]
    #[test]
    fn verdicts() {
        use std::os::unix::process::ExitStatusExt as _;

        let ok = ExitStatus::from_raw(0);
        let failed = ExitStatus::from_raw(1 << 8);
        assert_eq!(
            verdict(&lines("PASS a\nPASS b\n2 passed, 0 failed"), ok),
            Ok("2 passed, 0 failed".to_owned())
        );
        assert_eq!(
            verdict(
                &lines("PASS a\nFAIL b: x: y\nFAIL c: z\n1 passed, 2 failed"),
                failed
            ),
            Err("2 case(s) failed: b, c".to_owned())
        );
        assert_eq!(
            verdict(&lines(""), failed),
            Err("the client exited with exit status: 1".to_owned())
        );
        assert_eq!(
            verdict(&lines("PASS a"), ok),
            Err("the client printed no summary line".to_owned())
        );
        assert_eq!(
            verdict(&lines("PASS a\n2 passed, 0 failed"), ok),
            Err("the client reported \"2 passed, 0 failed\" after 1 PASS lines".to_owned())
        );
    }

    #[test]
    fn listening_addresses() {
        let split = |addr| split_host_port(addr);
        assert_eq!(
            split("127.0.0.1:50051"),
            Some(("127.0.0.1".to_owned(), "50051".to_owned()))
        );
        assert_eq!(
            split("[::1]:8080"),
            Some(("::1".to_owned(), "8080".to_owned()))
        );
        assert_eq!(split("127.0.0.1:"), None);
        assert_eq!(split("127.0.0.1"), None);
        assert_eq!(split(":80"), None);
    }
}
