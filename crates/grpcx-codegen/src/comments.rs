//! Proto comments made safe for rustdoc.
//!
//! A `.proto` comment becomes the doc comment of the generated item, and
//! rustdoc runs every Rust code block of a doc comment as a doc test. Proto
//! authors write examples in other languages, pseudo-code, or indented
//! blocks of text, none of which compiles, so every code block is turned
//! into a ```` ```text ```` fence before prost-build or the service generator
//! sees the comment. Code blocks are found with pulldown-cmark, the Markdown
//! parser rustdoc itself uses, so the two agree on what a code block is;
//! when a block cannot be rewritten in place (an indented block inside a
//! block quote, say), the whole comment becomes one text block. Inline
//! HTML (`List<String>` in prose) is escaped, so that rustdoc does not
//! warn about unclosed tags.

use std::ops::Range;

use prost_types::FileDescriptorSet;
use pulldown_cmark::{CodeBlockKind, Event, Options, Parser, Tag};

/// Rewrites every comment of `fds` with [`sanitize`].
pub(crate) fn sanitize_descriptor_set(fds: &mut FileDescriptorSet) {
    for file in &mut fds.file {
        let Some(info) = &mut file.source_code_info else {
            continue;
        };
        for location in &mut info.location {
            if let Some(comment) = &mut location.leading_comments {
                *comment = sanitize(comment);
            }
            if let Some(comment) = &mut location.trailing_comments {
                *comment = sanitize(comment);
            }
            for comment in &mut location.leading_detached_comments {
                *comment = sanitize(comment);
            }
        }
    }
}

/// A comment with every code block fenced as `text`, its common
/// indentation removed, and no carriage returns (a bare CR is not allowed
/// in a Rust comment).
pub(crate) fn sanitize(comment: &str) -> String {
    let text = normalize(comment);
    let rewritten = rewrite(&text);
    if has_only_text_blocks(&rewritten) {
        return rewritten;
    }
    let whole = fence_whole(&text);
    if has_only_text_blocks(&whole) {
        whole
    } else {
        // Unreachable in practice; prefer losing the comment to emitting a
        // doc test.
        String::new()
    }
}

/// The Markdown extensions rustdoc enables.
fn options() -> Options {
    Options::ENABLE_TABLES
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_SMART_PUNCTUATION
}

/// Drops carriage returns, expands leading tabs and removes the indentation
/// common to all non-blank lines, as rustdoc does before parsing.
fn normalize(comment: &str) -> String {
    let lines: Vec<String> = comment
        .split('\n')
        .map(|line| {
            let line = line.replace('\r', "");
            let rest = line.trim_start_matches(['\t', ' ']);
            let lead = &line[..line.len() - rest.len()];
            let width: usize = lead.chars().map(|c| if c == '\t' { 4 } else { 1 }).sum();
            format!("{}{rest}", " ".repeat(width))
        })
        .collect();
    let common = lines
        .iter()
        .filter(|line| !line.trim().is_empty())
        .map(|line| line.len() - line.trim_start().len())
        .min()
        .unwrap_or(0);
    lines
        .iter()
        .map(|line| line.get(common..).unwrap_or("").trim_end_matches(' '))
        .collect::<Vec<_>>()
        .join("\n")
}

fn code_blocks(text: &str) -> Vec<(CodeBlockKind<'_>, Range<usize>)> {
    Parser::new_ext(text, options())
        .into_offset_iter()
        .filter_map(|(event, range)| match event {
            Event::Start(Tag::CodeBlock(kind)) => Some((kind, range)),
            _ => None,
        })
        .collect()
}

fn inline_html(text: &str) -> Vec<usize> {
    Parser::new_ext(text, options())
        .into_offset_iter()
        .filter_map(|(event, range)| match event {
            Event::InlineHtml(_) => Some(range.start),
            _ => None,
        })
        .collect()
}

fn has_only_text_blocks(text: &str) -> bool {
    code_blocks(text)
        .iter()
        .all(|(kind, _)| matches!(kind, CodeBlockKind::Fenced(info) if info.trim() == "text"))
}

/// One change to the comment's lines.
enum Edit {
    /// Replace the info string of the fence opening on this line; the fence
    /// starts at the byte offset in the line.
    FenceInfo { line: usize, from: usize },
    /// Fence the indented block on these lines, whose container content
    /// starts at `indent` spaces.
    Indented { lines: Range<usize>, indent: usize },
    /// Escape the `<` at this byte offset of the line.
    EscapeHtml { line: usize, at: usize },
}

impl Edit {
    /// Where the edit is, to apply the edits from the end.
    fn position(&self) -> (usize, usize) {
        match self {
            Edit::FenceInfo { line, from } => (*line, *from),
            Edit::Indented { lines, .. } => (lines.start, 0),
            Edit::EscapeHtml { line, at } => (*line, *at),
        }
    }
}

/// Rewrites each code block in place (fences get the `text` info string,
/// indented blocks are wrapped in a `text` fence) and escapes inline HTML.
fn rewrite(text: &str) -> String {
    let starts: Vec<usize> = std::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .collect();
    let line_of = |offset: usize| starts.partition_point(|&s| s <= offset).saturating_sub(1);
    let mut lines: Vec<String> = text.split('\n').map(str::to_owned).collect();

    let mut edits = Vec::new();
    for (kind, range) in code_blocks(text) {
        let first = line_of(range.start);
        let column = range.start - starts[first];
        match kind {
            CodeBlockKind::Fenced(_) => edits.push(Edit::FenceInfo {
                line: first,
                from: column,
            }),
            CodeBlockKind::Indented => {
                let prefix = &lines[first][..column.min(lines[first].len())];
                if column < 4 || !prefix.chars().all(|c| c == ' ') {
                    // Inside a block quote or similar: leave it to the
                    // whole-comment fallback.
                    continue;
                }
                let mut last = line_of(range.end.saturating_sub(1).max(range.start));
                while last > first && lines[last].trim().is_empty() {
                    last -= 1;
                }
                edits.push(Edit::Indented {
                    lines: first..last + 1,
                    indent: column - 4,
                });
            }
        }
    }

    for offset in inline_html(text) {
        let line = line_of(offset);
        edits.push(Edit::EscapeHtml {
            line,
            at: offset - starts[line],
        });
    }

    // Later edits first, so earlier positions stay valid.
    edits.sort_by_key(Edit::position);
    for edit in edits.into_iter().rev() {
        match edit {
            Edit::EscapeHtml { line, at } => {
                if lines[line]
                    .get(at..)
                    .is_some_and(|rest| rest.starts_with('<'))
                {
                    lines[line].insert(at, '\\');
                }
            }
            Edit::FenceInfo { line, from } => {
                let current = &lines[line];
                let Some(start) = current
                    .get(from..)
                    .and_then(|rest| rest.find(['`', '~']))
                    .map(|i| i + from)
                else {
                    continue;
                };
                let fence_char = current[start..].chars().next().unwrap_or('`');
                let run = current[start..]
                    .chars()
                    .take_while(|&c| c == fence_char)
                    .count();
                lines[line] = format!("{}text", &current[..start + run]);
            }
            Edit::Indented {
                lines: range,
                indent,
            } => {
                let pad = " ".repeat(indent);
                for line in &mut lines[range.clone()] {
                    let strip = indent + 4;
                    if line.len() >= strip && line[..strip].chars().all(|c| c == ' ') {
                        line.replace_range(indent..strip, "");
                    }
                }
                lines.insert(range.end, format!("{pad}```"));
                lines.insert(range.start, format!("{pad}```text"));
            }
        }
    }
    lines.join("\n")
}

/// The whole comment as one `text` block, with a fence longer than any run
/// of backticks inside it.
fn fence_whole(text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    format!("{fence}text\n{}\n{fence}", text.trim_end_matches('\n'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(input: &str, expected: &str) {
        let output = sanitize(input);
        assert_eq!(output, expected, "\n--- got:\n{output}\n---");
        assert!(has_only_text_blocks(&output));
    }

    #[test]
    fn plain_text_only_loses_common_indentation() {
        check(" Hello.\n Two lines.\n", "Hello.\nTwo lines.\n");
        check("", "");
    }

    #[test]
    fn fences_become_text() {
        check(
            " Example:\n ```\n let x = 1;\n ```\n",
            "Example:\n```text\nlet x = 1;\n```\n",
        );
        check(
            " ```rust,no_run\n fn main() {}\n ```",
            "```text\nfn main() {}\n```",
        );
        check(" ~~~~python\n print()\n ~~~~", "~~~~text\nprint()\n~~~~");
        check(" ```json\n {}\n ```", "```text\n{}\n```");
    }

    #[test]
    fn indented_blocks_are_fenced_and_dedented() {
        check(
            " Use it so:\n\n     let a = b;\n\n     a.go();\n\n Done.\n",
            "Use it so:\n\n```text\nlet a = b;\n\na.go();\n```\n\nDone.\n",
        );
        // Rustdoc removes the indentation common to all lines first.
        check("     only code", "only code");
    }

    #[test]
    fn blocks_inside_lists_keep_their_indentation() {
        check(
            " - item\n\n       nested();\n\n - two\n",
            "- item\n\n  ```text\n  nested();\n  ```\n\n- two\n",
        );
        check(
            " - x\n   ```rust\n   y\n   ```\n",
            "- x\n  ```text\n  y\n  ```\n",
        );
    }

    #[test]
    fn block_quotes_fall_back_to_one_text_block() {
        check(
            " > quoted\n >\n >     code();\n",
            "```text\n> quoted\n>\n>     code();\n```",
        );
        check(
            "> a ```` b\n>\n>     x",
            "`````text\n> a ```` b\n>\n>     x\n`````",
        );
        // A fence in a block quote is rewritten in place.
        check("> ```\n> x\n> ```", "> ```text\n> x\n> ```");
    }

    #[test]
    fn inline_html_is_escaped() {
        check(
            " Returns a List<String> or <b>bold</b>.\n See <https://x.io>, `Vec<u8>`.",
            "Returns a List\\<String> or \\<b>bold\\</b>.\nSee <https://x.io>, `Vec<u8>`.",
        );
    }

    #[test]
    fn carriage_returns_and_tabs_are_normalized() {
        check(" a\r\n\tb\r\n", "a\n   b\n");
        check("x\n\n\tcode\n", "x\n\n```text\ncode\n```\n");
    }
}
