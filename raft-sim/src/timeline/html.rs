//! The page itself: one self-contained HTML file, its style and script
//! inline and its data one JSON blob, so it opens from disk, offline, in
//! any browser and loads nothing.

use super::page_data::PageData;

const STYLE: &str = include_str!("page.css");
const SCRIPT: &str = include_str!("page.js");

/// The HTML page for `data`.
pub fn render(data: &PageData) -> String {
    // Serializing plain data (strings, numbers, vectors) cannot fail; an
    // empty object would still give a page that says nothing is drawn.
    let json = serde_json::to_string(data).unwrap_or_else(|_| "{}".into());
    let mut page = String::with_capacity(json.len() + STYLE.len() + SCRIPT.len() + 1_024);
    page.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    page.push_str(
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>",
    );
    page.push_str(&escape_text(&format!("{}: timeline", data.title)));
    page.push_str("</title>\n<style>\n");
    page.push_str(STYLE);
    page.push_str("</style>\n</head>\n<body>\n");
    page.push_str(
        "<header id=\"head\"></header>\n<div id=\"toolbar\" class=\"toolbar\"></div>\n\
         <div id=\"legend\" class=\"legend\"></div>\n<div id=\"chart\"></div>\n\
         <div id=\"notes\" class=\"notes\"></div>\n<div id=\"tip\"></div>\n\
         <noscript>This timeline is drawn by JavaScript; the data is in the \
         timeline-data script element.</noscript>\n",
    );
    page.push_str("<script type=\"application/json\" id=\"timeline-data\">");
    page.push_str(&escape_json_for_script(&json));
    page.push_str("</script>\n<script>\n");
    page.push_str(SCRIPT);
    page.push_str("</script>\n</body>\n</html>\n");
    page
}

/// JSON made safe inside a `<script>` element: a `<` can only be inside a
/// JSON string, where `\u003c` means the same, so no `</script>` or
/// `<!--` in the data can end or bend the element.
pub fn escape_json_for_script(json: &str) -> String {
    json.replace('<', "\\u003c")
}

/// Text for an HTML element's content.
fn escape_text(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_string_in_the_data_can_close_the_script_element() {
        let json = serde_json::to_string(&serde_json::json!({
            "a": "</script><script>alert(1)</script>",
            "b": "<!-- x",
        }))
        .unwrap();
        let safe = escape_json_for_script(&json);
        assert!(!safe.contains("</"), "{safe}");
        assert!(!safe.contains("<!--"), "{safe}");
        let back: serde_json::Value = serde_json::from_str(&safe).unwrap();
        assert_eq!(back["a"], "</script><script>alert(1)</script>");
    }

    #[test]
    fn the_title_is_escaped() {
        assert_eq!(escape_text("a<b>&c"), "a&lt;b&gt;&amp;c");
    }
}
