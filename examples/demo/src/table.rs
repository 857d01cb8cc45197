//! The table the demo prints, and the compact form of details in it.

use std::fmt::Write as _;
use std::time::Duration;

use grpcx::{Detail, Status};

use crate::Row;

/// The widest a message is shown.
const MESSAGE_WIDTH: usize = 48;

/// The widest details are shown.
const DETAILS_WIDTH: usize = 64;

/// The rows as an aligned table: check mark, call, code, message, details,
/// origin, elapsed milliseconds.
pub fn render(rows: &[Row]) -> String {
    let header = ["", "call", "code", "message", "details", "origin", "ms"].map(str::to_owned);
    let mut lines = vec![header];
    for row in rows {
        let mark = if row.passed() { "✓" } else { "✗" };
        let origin = row.origin.map_or("-", |origin| origin.as_str());
        lines.push([
            mark.to_owned(),
            row.call.clone(),
            row.code.as_str().to_owned(),
            truncate(&row.message, MESSAGE_WIDTH),
            truncate(or_dash(&row.details), DETAILS_WIDTH),
            origin.to_owned(),
            row.elapsed.as_millis().to_string(),
        ]);
    }
    let mut widths = [0; 7];
    for line in &lines {
        for (width, cell) in widths.iter_mut().zip(line) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for (i, line) in lines.iter().enumerate() {
        let mut text = String::new();
        for (column, (cell, width)) in line.iter().zip(widths).enumerate() {
            // The last column, milliseconds, is right-aligned.
            let _ = if column == 6 {
                write!(text, "{cell:>width$}")
            } else {
                write!(text, "{cell:<width$}  ")
            };
        }
        out.push_str(text.trim_end());
        out.push('\n');
        if i == 0 {
            let rule: usize = widths.iter().sum::<usize>() + 2 * (widths.len() - 1);
            out.push_str(&"─".repeat(rule));
            out.push('\n');
        }
    }
    out
}

/// A status's details and trailers in one line:
/// `BadRequest[username: too short; email: invalid] RetryInfo(30s)`.
pub fn compact_details(status: &Status) -> String {
    let mut parts: Vec<String> = status.details().iter().map(compact).collect();
    // Trailers the server sent next to the status.
    parts.extend(status.metadata().iter().map(|(key, _)| format!("+{key}")));
    parts.join(" ")
}

fn compact(detail: &Detail) -> String {
    match detail {
        Detail::BadRequest(bad) => list(
            "BadRequest",
            bad.field_violations
                .iter()
                .map(|v| format!("{}: {}", v.field, v.description)),
        ),
        Detail::ErrorInfo(info) => {
            let mut metadata: Vec<_> = info.metadata.iter().collect();
            metadata.sort();
            let metadata: Vec<_> = metadata.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let metadata = if metadata.is_empty() {
                String::new()
            } else {
                format!(" {{{}}}", metadata.join(", "))
            };
            format!("ErrorInfo({}@{}{metadata})", info.reason, info.domain)
        }
        Detail::RetryInfo(retry) => match retry.delay() {
            Some(delay) => format!("RetryInfo({})", duration(delay)),
            None => "RetryInfo".to_owned(),
        },
        Detail::QuotaFailure(quota) => list(
            "QuotaFailure",
            quota
                .violations
                .iter()
                .map(|v| format!("{}: {}", v.subject, v.description)),
        ),
        Detail::PreconditionFailure(failure) => list(
            "PreconditionFailure",
            failure
                .violations
                .iter()
                .map(|v| format!("{} {}: {}", v.r#type, v.subject, v.description)),
        ),
        Detail::ResourceInfo(resource) => format!("ResourceInfo({})", resource.resource_name),
        Detail::RequestInfo(request) => format!("RequestInfo({})", request.request_id),
        Detail::DebugInfo(debug) => format!("DebugInfo({})", debug.detail),
        Detail::Help(help) => list("Help", help.links.iter().map(|link| link.url.clone())),
        Detail::LocalizedMessage(message) => {
            format!("LocalizedMessage({}: {})", message.locale, message.message)
        }
        // An application's own detail type, or one this version does not
        // know: its name is all there is to show.
        other => other.type_name().to_owned(),
    }
}

fn list(name: &str, items: impl Iterator<Item = String>) -> String {
    format!("{name}[{}]", items.collect::<Vec<_>>().join("; "))
}

fn duration(delay: Duration) -> String {
    if delay.subsec_nanos() == 0 {
        format!("{}s", delay.as_secs())
    } else {
        format!("{}ms", delay.as_millis())
    }
}

fn or_dash(text: &str) -> &str {
    if text.is_empty() { "-" } else { text }
}

/// `text`, cut to `width` characters with an ellipsis.
fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(width - 1).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use grpcx::{BadRequest, ErrorInfo, QuotaFailure, RetryInfo, Status};

    use super::*;

    #[test]
    fn details_are_compact() {
        let status = Status::invalid_argument("bad")
            .with_detail(
                BadRequest::default()
                    .violation("username", "too short")
                    .violation("email", "invalid"),
            )
            .with_detail(
                ErrorInfo::new("PRODUCT_NOT_FOUND", "products.example.com")
                    .with_metadata("productId", "p-9")
                    .with_metadata("a", "1"),
            )
            .with_detail(QuotaFailure::default().violation("client:x", "1 per 30s"))
            .with_detail(RetryInfo::after(Duration::from_secs(30)));
        assert_eq!(
            compact_details(&status),
            "BadRequest[username: too short; email: invalid] \
             ErrorInfo(PRODUCT_NOT_FOUND@products.example.com {a=1, productId=p-9}) \
             QuotaFailure[client:x: 1 per 30s] RetryInfo(30s)"
        );
    }

    #[test]
    fn long_cells_are_cut() {
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
    }
}
