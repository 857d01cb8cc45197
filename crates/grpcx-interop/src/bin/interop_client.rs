//! `interop-client --server_port N --test_case NAME|all [--server_host H]`:
//! gRPC's interop test client.
//!
//! Prints `PASS <case>` or `FAIL <case>: <reason>` for each case, then
//! `N passed, N failed`. Exits 0 only if every case passed, 1 if one
//! failed, 2 for bad usage (including `--use_tls=true`: TLS is not
//! supported). Flags take their value as `--flag value` or `--flag=value`.

use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use grpcx::Endpoint;
use grpcx_interop::client::{ALL_CASES, run_case};

/// The deadline of every call a case does not give one itself.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one case may take in all, so that nothing hangs.
const CASE_TIMEOUT: Duration = Duration::from_secs(60);

const USAGE: &str = "usage: interop-client --server_port N --test_case NAME|all \
                     [--server_host 127.0.0.1] [--use_tls false]";

struct Args {
    host: String,
    port: u16,
    cases: Vec<&'static str>,
}

#[tokio::main]
async fn main() -> ExitCode {
    grpcx_interop::init_tracing();
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(message) => {
            eprintln!("interop-client: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let host = if args.host.contains(':') {
        format!("[{}]", args.host)
    } else {
        args.host.clone()
    };
    let endpoint = match Endpoint::new(format!("http://{host}:{}", args.port)) {
        Ok(endpoint) => endpoint
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(CALL_TIMEOUT),
        Err(err) => {
            eprintln!(
                "interop-client: bad server address {host}:{}: {err}",
                args.port
            );
            return ExitCode::from(2);
        }
    };

    let mut passed = 0usize;
    let mut failed = 0usize;
    for name in &args.cases {
        let result = match tokio::time::timeout(CASE_TIMEOUT, run_case(name, &endpoint)).await {
            Ok(result) => result.map_err(|err| err.to_string()),
            Err(_) => Err(format!("did not finish within {CASE_TIMEOUT:?}")),
        };
        match result {
            Ok(()) => {
                passed += 1;
                println!("PASS {name}");
            }
            Err(reason) => {
                failed += 1;
                // Keep one line per case: control characters (as in the
                // special status message) are escaped.
                println!("FAIL {name}: {}", reason.escape_debug());
            }
        }
        let _ = std::io::stdout().flush();
    }
    println!("{passed} passed, {failed} failed");
    let _ = std::io::stdout().flush();
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut host = "127.0.0.1".to_owned();
    let mut port = None;
    let mut cases = None;
    while let Some(arg) = args.next() {
        let (key, inline) = match arg.split_once('=') {
            Some((key, value)) => (key.to_owned(), Some(value.to_owned())),
            None => (arg, None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{key} needs a value"))
        };
        match key.as_str() {
            "--server_host" => host = value()?,
            "--server_port" => {
                let text = value()?;
                port = Some(
                    text.parse::<u16>()
                        .map_err(|_| format!("--server_port {text:?} is not a port number"))?,
                );
            }
            "--test_case" => {
                let name = value()?;
                cases = Some(if name == "all" {
                    ALL_CASES.to_vec()
                } else {
                    let case = ALL_CASES
                        .iter()
                        .find(|case| **case == name)
                        .ok_or_else(|| {
                            format!(
                                "unknown test case {name:?}; known: all, {}",
                                ALL_CASES.join(", ")
                            )
                        })?;
                    vec![*case]
                });
            }
            "--use_tls" => match value()?.as_str() {
                "false" => {}
                "true" => return Err("--use_tls=true is not supported".to_owned()),
                other => return Err(format!("--use_tls {other:?} is not true or false")),
            },
            _ => return Err(format!("unknown argument {key:?}")),
        }
    }
    Ok(Args {
        host,
        port: port.ok_or("--server_port is required")?,
        cases: cases.ok_or("--test_case is required")?,
    })
}
