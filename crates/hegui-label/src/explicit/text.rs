//! Explicit labels in text (GB 45438 §5.1, Labelling Measures art. 4 (1) and ¶2): a visible
//! prompt at the start or end of exported text and Markdown, and the check a platform runs to
//! see whether a text already carries one (acceptance check E-TXT1).
//!
//! The label is its own line, so it never changes the meaning of the first or last sentence, and
//! adding it is idempotent: a text that already carries a conforming label at that end is left
//! alone. In Markdown the line goes after the body (the front matter holds the implicit label) or,
//! for a prefix, right after the front matter, and is set in italics as generators do
//! (`*（内容由AI生成）*`).

use super::LabelText;

/// How far from either end (in characters, after trimming) a label counts as "at the start or
/// end" for E-TXT1.
pub const EDGE_CHARS: usize = 64;

/// Where the visible label goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TextPlacement {
    /// A line before the text.
    Prefix,
    /// A line after the text (the usual choice for exported answers).
    #[default]
    Suffix,
}

/// True when the first or last [`EDGE_CHARS`] characters of `text` (after trimming whitespace)
/// contain both label elements (人工智能/AI and 生成/合成): E-TXT1.
pub fn has_conforming_label(text: &str) -> bool {
    let t = text.trim();
    let head: String = t.chars().take(EDGE_CHARS).collect();
    let n = t.chars().count();
    let tail: String = t.chars().skip(n.saturating_sub(EDGE_CHARS)).collect();
    LabelText::new(head).is_ok() || LabelText::new(tail).is_ok()
}

/// True when the given end of `text` already carries a conforming label.
fn labelled_at(text: &str, placement: TextPlacement) -> bool {
    let t = text.trim();
    let edge: String = match placement {
        TextPlacement::Prefix => t.chars().take(EDGE_CHARS).collect(),
        TextPlacement::Suffix => {
            let n = t.chars().count();
            t.chars().skip(n.saturating_sub(EDGE_CHARS)).collect()
        }
    };
    LabelText::new(edge).is_ok()
}

/// The line ending the text uses (CRLF if its first line break is one).
fn newline_of(text: &str) -> &'static str {
    match text.find('\n') {
        Some(i) if i > 0 && text.as_bytes()[i - 1] == b'\r' => "\r\n",
        _ => "\n",
    }
}

/// The visible label line of plain text: `（AI生成）`.
pub fn label_line(label: &LabelText) -> String {
    format!("（{label}）")
}

/// Adds a visible label line to plain text: `（AI生成）` before or after it.
pub fn label_plain_text(text: &str, label: &LabelText, placement: TextPlacement) -> String {
    if labelled_at(text, placement) {
        return text.to_string();
    }
    let nl = newline_of(text);
    let line = label_line(label);
    match placement {
        TextPlacement::Prefix => format!("{line}{nl}{nl}{text}"),
        TextPlacement::Suffix => {
            let body = text.trim_end_matches(['\r', '\n']);
            format!("{body}{nl}{nl}{line}{nl}")
        }
    }
}

/// Splits Markdown into its front matter (with the closing `---` line) and body. A file that
/// does not open with `---` has no front matter.
fn split_front_matter(md: &str) -> (&str, &str) {
    let bom = if md.starts_with('\u{feff}') { 3 } else { 0 };
    let rest = &md[bom..];
    if !(rest.starts_with("---\n") || rest.starts_with("---\r\n")) {
        return ("", md);
    }
    let mut offset = bom + rest.find('\n').map_or(rest.len(), |i| i + 1);
    for line in md[offset..].split_inclusive('\n') {
        offset += line.len();
        let l = line.trim_end_matches(['\r', '\n']);
        if l == "---" || l == "..." {
            return md.split_at(offset);
        }
    }
    ("", md)
}

/// Adds a visible italic label line to Markdown, after the body (suffix) or right after the
/// front matter (prefix); the front matter itself, which holds the implicit label, is untouched.
pub fn label_markdown(md: &str, label: &LabelText, placement: TextPlacement) -> String {
    let (front, body) = split_front_matter(md);
    if labelled_at(body, placement) {
        return md.to_string();
    }
    let nl = newline_of(md);
    let line = format!("*（{label}）*");
    match placement {
        TextPlacement::Prefix => format!("{front}{line}{nl}{nl}{body}"),
        TextPlacement::Suffix => {
            let body = body.trim_end_matches(['\r', '\n']);
            format!("{front}{body}{nl}{nl}{line}{nl}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label() -> LabelText {
        LabelText::default()
    }

    #[test]
    fn ds17_e_txt1_check() {
        assert!(has_conforming_label("（AI生成）\n\n今天天气很好。"));
        assert!(has_conforming_label(
            "今天天气很好。\n\n本内容由人工智能合成"
        ));
        assert!(!has_conforming_label("AI 助手为您服务。今天天气很好。"));
        let long_middle = format!("{}AI生成{}", "长".repeat(100), "文".repeat(100));
        assert!(
            !has_conforming_label(&long_middle),
            "a label buried in the middle does not count"
        );
    }

    #[test]
    fn ds17_plain_text_suffix_and_prefix() {
        let out = label_plain_text("你好。\n", &label(), TextPlacement::Suffix);
        assert_eq!(out, "你好。\n\n（AI生成）\n");
        assert!(has_conforming_label(&out));
        let out = label_plain_text("你好。", &label(), TextPlacement::Prefix);
        assert_eq!(out, "（AI生成）\n\n你好。");
        // Idempotent.
        assert_eq!(label_plain_text(&out, &label(), TextPlacement::Prefix), out);
        // CRLF is kept.
        let out = label_plain_text("a\r\nb\r\n", &label(), TextPlacement::Suffix);
        assert_eq!(out, "a\r\nb\r\n\r\n（AI生成）\r\n");
    }

    #[test]
    fn ds17_markdown_line_beside_front_matter() {
        let md = "---\nAIGC:\n  Label: '1'\n---\n# 标题\n\n正文。\n";
        let out = label_markdown(md, &label(), TextPlacement::Suffix);
        assert_eq!(
            out,
            "---\nAIGC:\n  Label: '1'\n---\n# 标题\n\n正文。\n\n*（AI生成）*\n"
        );
        assert_eq!(label_markdown(&out, &label(), TextPlacement::Suffix), out);
        let out = label_markdown(md, &label(), TextPlacement::Prefix);
        assert!(
            out.starts_with("---\nAIGC:\n  Label: '1'\n---\n*（AI生成）*\n\n# 标题"),
            "{out}"
        );
        let plain = label_markdown(
            "# t\n",
            &LabelText::new("人工智能生成").unwrap(),
            TextPlacement::Suffix,
        );
        assert_eq!(plain, "# t\n\n*（人工智能生成）*\n");
    }
}
