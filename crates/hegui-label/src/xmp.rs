//! XMP packets carrying the TC260 `AIGC` property (GB 45438 image/HEIF/GIF placement).
//!
//! The practice guide says: "if the namespace already has content, update by property, do not
//! overwrite the whole packet". So [`merge_label`] streams the existing packet through quick-xml,
//! drops every previous `AIGC` property (element or attribute form, conforming or wrong namespace)
//! and adds one `rdf:Description` holding `TC260:AIGC`; every other property survives. Readers
//! match on the namespace URI, never the prefix (`TC260`, `tc260` and others occur in real files).

use quick_xml::events::{BytesStart, BytesText, Event};
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;
use quick_xml::writer::Writer;

/// The namespace URI GB 45438 image labels use.
pub const TC260_NS: &str = "http://www.tc260.org.cn/ns/AIGC/1.0/";

/// Namespace URIs seen in the wild for the AIGC property that are not the standard's. Readers
/// report a label in them as a wrong-namespace site; writers migrate it to [`TC260_NS`].
pub const WRONG_NAMESPACES: [&str; 3] = [
    "http://ns.adobe.com/xap/1.0/tc/",
    "http://ns.tc260.org.cn/AIGC/1.0/",
    "http://www.tc260.org.cn/ns/AIGC/1.0",
];

const RDF_NS: &str = "http://www.w3.org/1999/02/22-rdf-syntax-ns#";

/// Why an existing XMP packet could not be merged.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum XmpError {
    /// The packet is not well-formed RDF/XML.
    #[error("existing XMP packet is malformed: {0}")]
    Malformed(String),
    /// The packet has no `rdf:RDF` element to add the property to.
    #[error("existing XMP packet has no rdf:RDF element")]
    NoRdf,
}

/// One `AIGC` property found in a packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmpLabel {
    /// The unescaped property value (the label JSON).
    pub value: String,
    /// The namespace URI the property was in (empty when the prefix was unbound).
    pub namespace: String,
    /// True when `namespace` is [`TC260_NS`].
    pub conforming_namespace: bool,
}

/// A fresh packet holding only the label, with the standard wrapper and padding room.
fn fresh_packet(label_json: &str) -> String {
    format!(
        "<?xpacket begin=\"\u{feff}\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>\n\
         <x:xmpmeta xmlns:x=\"adobe:ns:meta/\">\n\
         <rdf:RDF xmlns:rdf=\"{RDF_NS}\">\n\
         {}\n\
         </rdf:RDF>\n\
         </x:xmpmeta>\n\
         <?xpacket end=\"w\"?>",
        description(label_json)
    )
}

/// The `rdf:Description` element that carries the label.
fn description(label_json: &str) -> String {
    format!(
        "<rdf:Description rdf:about=\"\" xmlns:TC260=\"{TC260_NS}\">\
         <TC260:AIGC>{}</TC260:AIGC></rdf:Description>",
        quick_xml::escape::escape(label_json)
    )
}

/// Returns `existing` (or a new packet) with exactly one `TC260:AIGC` property holding
/// `label_json`; all other content of `existing` is kept.
pub fn merge_label(existing: Option<&str>, label_json: &str) -> Result<String, XmpError> {
    let Some(existing) = existing.filter(|p| !p.trim().is_empty()) else {
        return Ok(fresh_packet(label_json));
    };
    rewrite(existing, Some(label_json))
}

/// Returns `packet` without any AIGC property, everything else kept. For a secondary XMP packet
/// of a file whose canonical site now holds the label (so that one site remains, §6.1 c); never
/// exposed as a way to unlabel a file.
pub(crate) fn remove_labels(packet: &str) -> Result<String, XmpError> {
    rewrite(packet, None)
}

/// Streams `existing`, dropping AIGC properties and, with `label_json`, adding one.
fn rewrite(existing: &str, label_json: Option<&str>) -> Result<String, XmpError> {
    let mut reader = NsReader::from_str(existing);
    let mut writer = Writer::new(Vec::with_capacity(existing.len() + 512));
    // Depth of a dropped AIGC element we are skipping (0 = not skipping).
    let mut skip_depth = 0usize;
    // Without a label to add, there is nothing to insert.
    let mut inserted = label_json.is_none();
    let label_json = label_json.unwrap_or_default();
    let mut saw_rdf = false;
    let mut saw_packet_end = false;
    loop {
        let (ns, event) = reader
            .read_resolved_event()
            .map_err(|e| XmpError::Malformed(e.to_string()))?;
        let ns = match ns {
            ResolveResult::Bound(n) => n.as_ref().to_string(),
            _ => String::new(),
        };
        if skip_depth > 0 {
            match event {
                Event::Start(_) => skip_depth += 1,
                Event::End(_) => skip_depth -= 1,
                Event::Eof => return Err(XmpError::Malformed("unexpected end inside AIGC".into())),
                _ => {}
            }
            continue;
        }
        match event {
            Event::Start(ref e)
                if looks_like_aigc(&ns, e.name().as_ref(), e.local_name().as_ref()) =>
            {
                skip_depth = 1;
            }
            Event::Empty(ref e)
                if looks_like_aigc(&ns, e.name().as_ref(), e.local_name().as_ref()) => {}
            Event::Start(ref e) | Event::Empty(ref e)
                if ns == RDF_NS && e.local_name().as_ref() == "Description" =>
            {
                let filtered = drop_aigc_attributes(&reader, e)?;
                let out = if matches!(event, Event::Start(_)) {
                    Event::Start(filtered)
                } else {
                    Event::Empty(filtered)
                };
                write_event(&mut writer, out)?;
            }
            Event::Start(ref e) if ns == RDF_NS && e.local_name().as_ref() == "RDF" => {
                saw_rdf = true;
                write_event(&mut writer, event)?;
            }
            Event::Empty(ref e) if ns == RDF_NS && e.local_name().as_ref() == "RDF" => {
                // `<rdf:RDF/>` is valid RDF/XML: open it, add the label, close it.
                saw_rdf = true;
                let end = e.to_end().into_owned();
                write_event(&mut writer, Event::Start(e.clone()))?;
                if !inserted {
                    write_raw(&mut writer, &description(label_json))?;
                    inserted = true;
                }
                write_event(&mut writer, Event::End(end))?;
            }
            Event::End(ref e) if ns == RDF_NS && e.local_name().as_ref() == "RDF" => {
                if !inserted {
                    write_raw(&mut writer, &description(label_json))?;
                    inserted = true;
                }
                write_event(&mut writer, event)?;
            }
            Event::PI(ref pi) if pi.as_ref().starts_with("xpacket end") => {
                saw_packet_end = true;
                write_event(&mut writer, event)?;
            }
            Event::Eof => break,
            other => write_event(&mut writer, other)?,
        }
    }
    if !saw_rdf || !inserted {
        return Err(XmpError::NoRdf);
    }
    if label_json.is_empty() {
        return String::from_utf8(writer.into_inner())
            .map(drop_emptied_descriptions)
            .map_err(|e| XmpError::Malformed(e.to_string()));
    }
    let body = drop_emptied_descriptions(
        String::from_utf8(writer.into_inner()).map_err(|e| XmpError::Malformed(e.to_string()))?,
    );
    if saw_packet_end {
        Ok(body)
    } else {
        // A bare x:xmpmeta (as some writers embed it) gets the standard wrapper so that every
        // reader, including those that scan for `<?xpacket`, finds it.
        Ok(format!(
            "<?xpacket begin=\"\u{feff}\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>\n{}\n<?xpacket end=\"w\"?>",
            body.trim()
        ))
    }
}

/// Removes the `rdf:Description` that an earlier hegui write added once its only property has been
/// taken out, so relabelling does not grow the packet by an empty element each time.
fn drop_emptied_descriptions(packet: String) -> String {
    let open = format!("<rdf:Description rdf:about=\"\" xmlns:TC260=\"{TC260_NS}\">");
    let empty = format!("<rdf:Description rdf:about=\"\" xmlns:TC260=\"{TC260_NS}\"/>");
    packet
        .replace(&format!("{open}</rdf:Description>"), "")
        .replace(&empty, "")
}

/// A copy of `start` without attribute-form AIGC properties.
fn drop_aigc_attributes(
    reader: &NsReader<&[u8]>,
    start: &BytesStart<'_>,
) -> Result<BytesStart<'static>, XmpError> {
    let name = start.name().as_ref().to_string();
    let mut out = BytesStart::new(name);
    for attr in start.attributes() {
        let attr = attr.map_err(|e| XmpError::Malformed(e.to_string()))?;
        let (ns, local) = reader.resolver().resolve_attribute(attr.key);
        let ns = match ns {
            ResolveResult::Bound(n) => n.as_ref().to_string(),
            _ => String::new(),
        };
        if looks_like_aigc(&ns, attr.key.as_ref(), local.as_ref()) {
            continue;
        }
        out.push_attribute(attr);
    }
    Ok(out.into_owned())
}

fn write_event(writer: &mut Writer<Vec<u8>>, event: Event<'_>) -> Result<(), XmpError> {
    writer
        .write_event(event)
        .map_err(|e| XmpError::Malformed(e.to_string()))
}

fn write_raw(writer: &mut Writer<Vec<u8>>, raw: &str) -> Result<(), XmpError> {
    // The description is built by us with escaped content, so it can be written verbatim.
    write_event(writer, Event::Text(BytesText::from_escaped(raw)))
}

/// Every `AIGC` property in `packet` (element or attribute form, conforming namespace or one of
/// [`WRONG_NAMESPACES`], or any namespace whose prefix looks like TC260). Never fails: a
/// malformed packet yields what was found before the error.
pub fn find_labels(packet: &str) -> Vec<XmpLabel> {
    let mut found = Vec::new();
    let mut reader = NsReader::from_str(packet);
    // Text of the AIGC element being read, with its namespace.
    let mut current: Option<(String, String)> = None;
    let mut depth_in_current = 0usize;
    while let Ok((ns, event)) = reader.read_resolved_event() {
        let ns = match ns {
            ResolveResult::Bound(n) => n.as_ref().to_string(),
            _ => String::new(),
        };
        match event {
            Event::Eof => break,
            Event::Start(ref e) => {
                if current.is_some() {
                    depth_in_current += 1;
                } else if looks_like_aigc(&ns, e.name().as_ref(), e.local_name().as_ref()) {
                    current = Some((ns.clone(), String::new()));
                    depth_in_current = 0;
                }
                collect_attributes(&reader, e, &mut found);
            }
            Event::Empty(ref e) => collect_attributes(&reader, e, &mut found),
            Event::Text(ref t) => {
                if let Some((_, text)) = current.as_mut() {
                    text.push_str(&t.xml10_content());
                }
            }
            Event::CData(ref c) => {
                if let Some((_, text)) = current.as_mut() {
                    text.push_str(c.as_ref());
                }
            }
            Event::GeneralRef(ref r) => {
                if let Some((_, text)) = current.as_mut() {
                    push_reference(text, r.as_ref());
                }
            }
            Event::End(_) if current.is_some() => {
                if depth_in_current > 0 {
                    depth_in_current -= 1;
                } else if let Some((ns, text)) = current.take() {
                    found.push(label(ns, text));
                }
            }
            _ => {}
        }
    }
    found
}

/// Appends the text an entity or character reference stands for.
fn push_reference(text: &mut String, name: &str) {
    let resolved = match name {
        "quot" => Some('"'),
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "apos" => Some('\''),
        n => n.strip_prefix('#').and_then(|num| {
            let code = match num.strip_prefix('x') {
                Some(hex) => u32::from_str_radix(hex, 16).ok(),
                None => num.parse().ok(),
            };
            code.and_then(char::from_u32)
        }),
    };
    match resolved {
        Some(c) => text.push(c),
        None => {
            text.push('&');
            text.push_str(name);
            text.push(';');
        }
    }
}

/// True when an element or attribute denotes an AIGC label property: the standard namespace, a
/// known wrong one, or a prefix like `TC260:`/`C260:` bound elsewhere. Finding and merging use
/// this one predicate, so whatever is reported as a label is also what a write replaces.
fn looks_like_aigc(ns: &str, qname: &str, local: &str) -> bool {
    if local != "AIGC" {
        return false;
    }
    if ns == TC260_NS || WRONG_NAMESPACES.contains(&ns) {
        return true;
    }
    // Prefix typos seen in the wild (`C260:AIGC`, `tc260:AIGC` bound to another URI).
    let q = qname.to_ascii_lowercase();
    q.contains("260:")
}

fn collect_attributes(reader: &NsReader<&[u8]>, e: &BytesStart<'_>, found: &mut Vec<XmpLabel>) {
    for attr in e.attributes().flatten() {
        let (ns, local) = reader.resolver().resolve_attribute(attr.key);
        let ns = match ns {
            ResolveResult::Bound(n) => n.as_ref().to_string(),
            _ => String::new(),
        };
        if looks_like_aigc(&ns, attr.key.as_ref(), local.as_ref()) {
            let value = attr
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map(|v| v.into_owned())
                .unwrap_or_else(|_| attr.value.to_string());
            found.push(label(ns, value));
        }
    }
}

fn label(namespace: String, value: String) -> XmpLabel {
    XmpLabel {
        conforming_namespace: namespace == TC260_NS,
        namespace,
        value: value.trim().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::SAMPLE_LABEL;

    const EXISTING: &str = r#"<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" Iptc4xmpExt:DigitalSourceType="http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia">
<dc:title><rdf:Alt><rdf:li xml:lang="x-default">A &amp; B</rdf:li></rdf:Alt></dc:title>
</rdf:Description>
</rdf:RDF></x:xmpmeta>
<?xpacket end="w"?>"#;

    #[test]
    fn ds16_xmp_fresh_packet_roundtrip() {
        let p = merge_label(None, SAMPLE_LABEL).unwrap();
        let found = find_labels(&p);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].value, SAMPLE_LABEL);
        assert!(found[0].conforming_namespace);
        assert!(p.starts_with("<?xpacket begin="));
    }

    #[test]
    fn ds16_xmp_merge_keeps_other_properties() {
        let p = merge_label(Some(EXISTING), SAMPLE_LABEL).unwrap();
        assert!(p.contains("Iptc4xmpExt:DigitalSourceType=\"http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia\""));
        assert!(p.contains("A &amp; B"));
        assert_eq!(find_labels(&p).len(), 1);
        assert_eq!(find_labels(&p)[0].value, SAMPLE_LABEL);
    }

    #[test]
    fn ds16_xmp_merge_twice_one_property() {
        let once = merge_label(Some(EXISTING), SAMPLE_LABEL).unwrap();
        let other = SAMPLE_LABEL.replace("87f202bb", "00000000");
        let twice = merge_label(Some(&once), &other).unwrap();
        assert_eq!(
            twice.len(),
            once.len(),
            "relabelling does not grow the packet"
        );
        let found = find_labels(&twice);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].value, other);
    }

    #[test]
    fn ds16_xmp_attribute_form_and_lowercase_prefix_are_read_and_replaced() {
        let attr = format!(
            r#"<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="{RDF_NS}"><rdf:Description rdf:about="" xmlns:tc260="{TC260_NS}" tc260:AIGC="{}"/></rdf:RDF></x:xmpmeta>"#,
            SAMPLE_LABEL.replace('"', "&quot;")
        );
        let found = find_labels(&attr);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].value, SAMPLE_LABEL);
        let merged = merge_label(Some(&attr), SAMPLE_LABEL).unwrap();
        assert_eq!(find_labels(&merged).len(), 1);
        assert!(merged.contains("<?xpacket end"));
    }

    #[test]
    fn ds16_xmp_wrong_namespace_is_flagged_and_migrated() {
        let wrong = format!(
            r#"<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="{RDF_NS}"><rdf:Description rdf:about="" xmlns:TC260="http://ns.adobe.com/xap/1.0/tc/"><TC260:AIGC>{SAMPLE_LABEL}</TC260:AIGC></rdf:Description></rdf:RDF></x:xmpmeta>"#
        );
        let found = find_labels(&wrong);
        assert_eq!(found.len(), 1);
        assert!(!found[0].conforming_namespace);
        let merged = merge_label(Some(&wrong), SAMPLE_LABEL).unwrap();
        let found = find_labels(&merged);
        assert_eq!(found.len(), 1);
        assert!(found[0].conforming_namespace);
    }

    #[test]
    fn ds16_xmp_empty_rdf_element_gets_the_label() {
        let p = format!(
            r#"<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="{RDF_NS}"/></x:xmpmeta>"#
        );
        let merged = merge_label(Some(&p), SAMPLE_LABEL).unwrap();
        assert_eq!(find_labels(&merged).len(), 1, "{merged}");
    }

    #[test]
    fn ds16_xmp_remove_labels_keeps_the_rest() {
        let merged = merge_label(Some(EXISTING), SAMPLE_LABEL).unwrap();
        let removed = remove_labels(&merged).unwrap();
        assert!(find_labels(&removed).is_empty());
        assert!(removed.contains("A &amp; B"));
    }

    #[test]
    fn xmp_malformed_packet_is_an_error_not_a_panic() {
        assert!(merge_label(Some("<x:xmpmeta><rdf:RDF>"), SAMPLE_LABEL).is_err());
        assert!(merge_label(Some("<a></b>"), SAMPLE_LABEL).is_err());
        assert!(find_labels("<<<&&&").is_empty());
    }

    proptest::proptest! {
        #[test]
        fn xmp_find_never_panics(s in ".{0,400}") {
            let _ = find_labels(&s);
            let _ = merge_label(Some(&s), SAMPLE_LABEL);
        }
    }
}
