//! OOXML (DOCX/XLSX/PPTX and their templates): the label is the custom document property named
//! `AIGC` in `docProps/custom.xml` (TC260-PG-20258A §6.1):
//!
//! ```xml
//! <property fmtid="{D5CDD505-2E9C-101B-9397-08002B2CF9AE}" pid="2" name="AIGC">
//!   <vt:lpwstr>{"Label":"1",…}</vt:lpwstr></property>
//! ```
//!
//! The part is registered in `_rels/.rels` (custom-properties relationship) and in
//! `[Content_Types].xml` (an `Override` for `/docProps/custom.xml`).
//!
//! Key decisions:
//! * Only these three parts are rewritten; every other ZIP entry is copied with
//!   `raw_copy_file` (no recompression, same order, same local headers), so the document body,
//!   media and signatures-in-parts stay byte-identical. A part that needs no change is raw-copied
//!   too. The XML edits splice the original text at element boundaries found by quick-xml, so
//!   everything outside the edited elements (declarations, namespaces, whitespace) is kept.
//! * If `_rels/.rels` already names a custom-properties part elsewhere, that part is the one used.
//! * Every custom property named `AIGC` (any case), and every property whose name contains `AIGC`
//!   and whose value mentions `Label` (label variants), is removed, and one canonical property is
//!   appended with `pid` = max(existing) + 1 (at least 2).
//! * The XML parts read are capped at [`MAX_SITE_BYTES`] uncompressed (zip-bomb guard).

use super::{FormatError, MAX_SITE_BYTES, RawSite, ReadSeek, Scan, SitePayload, WriteSeek};
use quick_xml::events::{BytesStart, Event};
use std::io::{Read, Write};
use std::ops::Range;
use zip::ZipArchive;
use zip::write::SimpleFileOptions;

const CONTENT_TYPES: &str = "[Content_Types].xml";
const ROOT_RELS: &str = "_rels/.rels";
const DEFAULT_CUSTOM: &str = "docProps/custom.xml";
const CUSTOM_REL_TYPE: &str =
    "http://schemas.openxmlformats.org/officeDocument/2006/relationships/custom-properties";
const CUSTOM_CT: &str = "application/vnd.openxmlformats-officedocument.custom-properties+xml";
const FMTID: &str = "{D5CDD505-2E9C-101B-9397-08002B2CF9AE}";
const VT_NS: &str = "http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes";
const CP_NS: &str = "http://schemas.openxmlformats.org/officeDocument/2006/custom-properties";
const RELS_NS: &str = "http://schemas.openxmlformats.org/package/2006/relationships";

type Archive<'a> = ZipArchive<&'a mut dyn ReadSeek>;

fn zip_err(e: zip::result::ZipError) -> FormatError {
    match e {
        zip::result::ZipError::Io(e) => FormatError::Io(e),
        zip::result::ZipError::UnsupportedArchive(m) => {
            FormatError::Unsupported(format!("zip: {m}"))
        }
        other => FormatError::malformed(format!("zip: {other}")),
    }
}

fn xml_err(e: impl std::fmt::Display) -> FormatError {
    FormatError::malformed(format!("OOXML part XML: {e}"))
}

fn open(src: &mut dyn ReadSeek) -> Result<Archive<'_>, FormatError> {
    src.seek(std::io::SeekFrom::Start(0))?;
    ZipArchive::new(src).map_err(zip_err)
}

/// Index of the entry named `name`, compared ASCII-case-insensitively (OPC part names are).
fn find_entry(ar: &Archive<'_>, name: &str) -> Option<usize> {
    ar.file_names_raw()
        .position(|n| n.eq_ignore_ascii_case(name.as_bytes()))
}

/// Reads and decompresses one XML part, refusing more than [`MAX_SITE_BYTES`].
fn read_part(ar: &mut Archive<'_>, idx: usize) -> Result<String, FormatError> {
    let f = ar.by_index(idx).map_err(zip_err)?;
    if f.size() > MAX_SITE_BYTES {
        return Err(FormatError::TooLarge {
            what: "OOXML XML part",
            size: f.size(),
            limit: MAX_SITE_BYTES,
        });
    }
    let mut buf = Vec::new();
    f.take(MAX_SITE_BYTES + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > MAX_SITE_BYTES {
        return Err(FormatError::TooLarge {
            what: "OOXML XML part",
            size: buf.len() as u64,
            limit: MAX_SITE_BYTES,
        });
    }
    let text = String::from_utf8(buf)
        .map_err(|_| FormatError::Unsupported("OOXML XML part is not UTF-8".into()))?;
    // A BOM may precede the XML declaration: callers split it off with `split_bom` and put it
    // back in front of an edited part.
    Ok(text)
}

/// Strips a leading BOM, returning it separately so edited parts keep it.
fn split_bom(s: &str) -> (&str, &str) {
    match s.strip_prefix('\u{feff}') {
        Some(rest) => ("\u{feff}", rest),
        None => ("", s),
    }
}

/// The local part of a qualified XML name.
fn local(name: &str) -> &str {
    match name.rfind(':') {
        Some(i) => name.get(i + 1..).unwrap_or(""),
        None => name,
    }
}

/// The prefix of a qualified XML name (empty for none).
fn prefix(name: &str) -> &str {
    match name.find(':') {
        Some(i) => name.get(..i).unwrap_or(""),
        None => "",
    }
}

/// The unescaped value of attribute `key` (exact qualified name).
fn attr(e: &BytesStart<'_>, key: &str) -> Option<String> {
    e.attributes().with_checks(false).flatten().find_map(|a| {
        (a.key.as_ref() == key).then(|| {
            a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map(|v| v.into_owned())
                .unwrap_or_else(|_| a.value.to_string())
        })
    })
}

/// An XML event with its byte span in the source text.
struct Spanned<'a> {
    ev: Event<'a>,
    span: Range<usize>,
}

/// Reads all events of `xml` with their spans (bounded by the input size, itself capped).
fn events(xml: &str) -> Result<Vec<Spanned<'_>>, FormatError> {
    let mut r = quick_xml::Reader::from_str(xml);
    r.config_mut().check_end_names = true;
    let mut out = Vec::new();
    loop {
        let start = usize::try_from(r.buffer_position()).map_err(xml_err)?;
        let ev = r.read_event().map_err(xml_err)?;
        let end = usize::try_from(r.buffer_position()).map_err(xml_err)?;
        if matches!(ev, Event::Eof) {
            return Ok(out);
        }
        out.push(Spanned {
            ev,
            span: start..end,
        });
    }
}

/// Text of a `GeneralRef` event (`&amp;` → `&`, `&#x41;` → `A`).
fn general_ref(r: &quick_xml::events::BytesRef<'_>) -> String {
    if let Ok(Some(c)) = r.resolve_char_ref() {
        return c.to_string();
    }
    let name = r.xml10_content();
    quick_xml::escape::resolve_predefined_entity(&name)
        .map(str::to_string)
        .unwrap_or_else(|| format!("&{name};"))
}

// ---------------------------------------------------------------------------------------------
// _rels/.rels

/// A relationship in `_rels/.rels`.
struct Rel {
    id: String,
    rel_type: String,
    target: String,
    external: bool,
}

fn parse_rels(xml: &str) -> Result<(Vec<Rel>, Option<Range<usize>>), FormatError> {
    let mut rels = Vec::new();
    let mut root_end = None;
    for s in events(xml)? {
        match &s.ev {
            Event::Start(e) | Event::Empty(e) if local(e.name().as_ref()) == "Relationship" => {
                rels.push(Rel {
                    id: attr(e, "Id").unwrap_or_default(),
                    rel_type: attr(e, "Type").unwrap_or_default(),
                    target: attr(e, "Target").unwrap_or_default(),
                    external: attr(e, "TargetMode").is_some_and(|m| m == "External"),
                });
            }
            Event::End(e) if local(e.name().as_ref()) == "Relationships" => {
                root_end = Some(s.span.clone());
            }
            Event::Empty(e) if local(e.name().as_ref()) == "Relationships" => {
                root_end = Some(s.span.clone());
            }
            _ => {}
        }
    }
    Ok((rels, root_end))
}

fn is_custom_rel(r: &Rel) -> bool {
    !r.external && (r.rel_type == CUSTOM_REL_TYPE || r.rel_type.ends_with("/custom-properties"))
}

/// Resolves a relationship target of the package root to a ZIP entry name.
fn resolve_target(target: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for seg in target.trim_start_matches('/').split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    parts.join("/")
}

/// The custom-properties part named by `_rels/.rels`, if any.
fn custom_target(rels: &[Rel]) -> Option<String> {
    rels.iter()
        .find(|r| is_custom_rel(r))
        .map(|r| resolve_target(&r.target))
        .filter(|t| !t.is_empty())
}

// ---------------------------------------------------------------------------------------------
// docProps/custom.xml

/// One `<property>` of the custom properties part.
struct Prop {
    span: Range<usize>,
    name: String,
    fmtid: String,
    pid: Option<u64>,
    /// Local name of the value element (`lpwstr`, `lpstr`, `i4` …).
    value_type: String,
    value: String,
}

struct CustomXml {
    /// Qualified name of the root element (`Properties`, or `op:Properties` …).
    root_name: String,
    /// Prefix bound to the docPropsVTypes namespace on the root, if any.
    vt_prefix: Option<String>,
    props: Vec<Prop>,
    /// Span of `</Properties>`, or of `<Properties/>` when the root is empty.
    root_end: Range<usize>,
    root_empty: bool,
}

fn parse_custom(xml: &str) -> Result<CustomXml, FormatError> {
    let evs = events(xml)?;
    let mut root: Option<(String, Option<String>)> = None;
    let mut root_end = None;
    let mut root_empty = false;
    let mut props = Vec::new();
    let mut depth = 0usize;
    let mut cur: Option<Prop> = None;
    for s in &evs {
        match &s.ev {
            Event::Start(e) | Event::Empty(e) => {
                let empty = matches!(s.ev, Event::Empty(_));
                if depth == 0 && root.is_none() {
                    let name = e.name().as_ref().to_string();
                    let vt = e.attributes().with_checks(false).flatten().find_map(|a| {
                        let k = a.key.as_ref();
                        let k: &str = k;
                        let v: &str = a.value.as_ref();
                        (k.starts_with("xmlns:") && v == VT_NS)
                            .then(|| k.get(6..).unwrap_or("").to_string())
                    });
                    root = Some((name, vt));
                    if empty {
                        root_end = Some(s.span.clone());
                        root_empty = true;
                    }
                } else if depth == 1 && local(e.name().as_ref()) == "property" {
                    let p = Prop {
                        span: s.span.clone(),
                        name: attr(e, "name").unwrap_or_default(),
                        fmtid: attr(e, "fmtid").unwrap_or_default(),
                        pid: attr(e, "pid").and_then(|p| p.trim().parse().ok()),
                        value_type: String::new(),
                        value: String::new(),
                    };
                    if empty {
                        props.push(p);
                    } else {
                        cur = Some(p);
                    }
                } else if depth == 2
                    && let Some(p) = cur.as_mut()
                {
                    p.value_type = local(e.name().as_ref()).to_string();
                }
                if !empty {
                    depth += 1;
                }
            }
            Event::End(_) => {
                depth = depth.saturating_sub(1);
                if depth == 1 {
                    if let Some(mut p) = cur.take() {
                        p.span.end = s.span.end;
                        props.push(p);
                    }
                } else if depth == 0 && root_end.is_none() {
                    root_end = Some(s.span.clone());
                }
            }
            Event::Text(t) if depth == 3 => {
                if let Some(p) = cur.as_mut() {
                    p.value.push_str(&t.xml10_content());
                }
            }
            Event::CData(t) if depth == 3 => {
                if let Some(p) = cur.as_mut() {
                    p.value.push_str(&t.xml10_content());
                }
            }
            Event::GeneralRef(r) if depth == 3 => {
                if let Some(p) = cur.as_mut() {
                    p.value.push_str(&general_ref(r));
                }
            }
            _ => {}
        }
    }
    let (root_name, vt_prefix) =
        root.ok_or_else(|| FormatError::malformed("custom.xml has no root element"))?;
    if local(&root_name) != "Properties" {
        return Err(FormatError::malformed(format!(
            "custom.xml root is <{root_name}>, not <Properties>"
        )));
    }
    let root_end =
        root_end.ok_or_else(|| FormatError::malformed("custom.xml root is not closed"))?;
    Ok(CustomXml {
        root_name,
        vt_prefix,
        props,
        root_end,
        root_empty,
    })
}

/// True for properties the writer replaces: the label under any case, and label-shaped variants.
fn is_label_prop(p: &Prop) -> bool {
    p.name.eq_ignore_ascii_case("AIGC")
        || (p.name.to_ascii_lowercase().contains("aigc") && p.value.contains("Label"))
}

/// The new `<property>` element.
fn property_xml(c: Option<&CustomXml>, pid: u64, label_json: &str) -> String {
    let pfx = c
        .map(|c| prefix(&c.root_name).to_string())
        .filter(|p| !p.is_empty())
        .map(|p| format!("{p}:"))
        .unwrap_or_default();
    let (vt_open, vt_name) = match c.map(|c| c.vt_prefix.clone()) {
        Some(Some(p)) => (format!("{p}:lpwstr"), format!("{p}:lpwstr")),
        Some(None) => (
            format!("vt:lpwstr xmlns:vt=\"{VT_NS}\""),
            "vt:lpwstr".to_string(),
        ),
        None => ("vt:lpwstr".to_string(), "vt:lpwstr".to_string()),
    };
    let value = quick_xml::escape::partial_escape(label_json);
    format!(
        "<{pfx}property fmtid=\"{FMTID}\" pid=\"{pid}\" name=\"AIGC\"><{vt_open}>{value}</{vt_name}></{pfx}property>"
    )
}

/// `custom.xml` with the label properties removed and the canonical one appended.
fn merge_custom(existing: Option<&str>, label_json: &str) -> Result<String, FormatError> {
    let Some(existing) = existing else {
        return Ok(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\r\n<Properties xmlns=\"{CP_NS}\" xmlns:vt=\"{VT_NS}\">{}</Properties>",
            property_xml(None, 2, label_json)
        ));
    };
    let (bom, xml) = split_bom(existing);
    let c = parse_custom(xml)?;
    let kept_max = c
        .props
        .iter()
        .filter(|p| !is_label_prop(p))
        .filter_map(|p| p.pid)
        .max()
        .unwrap_or(1);
    let pid = kept_max.saturating_add(1).max(2);
    let new_prop = property_xml(Some(&c), pid, label_json);
    let mut out = String::with_capacity(xml.len() + new_prop.len() + 64);
    out.push_str(bom);
    let mut pos = 0;
    let cut = |out: &mut String, pos: &mut usize, upto: usize| -> Result<(), FormatError> {
        out.push_str(xml.get(*pos..upto).ok_or_else(|| xml_err("span"))?);
        Ok(())
    };
    for p in c.props.iter().filter(|p| is_label_prop(p)) {
        cut(&mut out, &mut pos, p.span.start)?;
        pos = p.span.end;
    }
    cut(&mut out, &mut pos, c.root_end.start)?;
    if c.root_empty {
        // `<Properties …/>`: reopen it as a start tag holding the property.
        let tag = xml.get(c.root_end.clone()).ok_or_else(|| xml_err("span"))?;
        let open = tag.trim_end_matches('>').trim_end().trim_end_matches('/');
        out.push_str(open);
        out.push('>');
        out.push_str(&new_prop);
        out.push_str(&format!("</{}>", c.root_name));
    } else {
        out.push_str(&new_prop);
        out.push_str(xml.get(c.root_end.start..).ok_or_else(|| xml_err("span"))?);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Registration edits

/// `_rels/.rels` with a custom-properties relationship to `part`, or `None` if it has one.
fn merge_rels(existing: Option<&str>, part: &str) -> Result<Option<String>, FormatError> {
    let Some(existing) = existing else {
        return Ok(Some(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\r\n<Relationships xmlns=\"{RELS_NS}\"><Relationship Id=\"rId1\" Type=\"{CUSTOM_REL_TYPE}\" Target=\"{part}\"/></Relationships>"
        )));
    };
    let (bom, xml) = split_bom(existing);
    let (rels, root_end) = parse_rels(xml)?;
    if custom_target(&rels).is_some() {
        return Ok(None);
    }
    let root_end = root_end
        .ok_or_else(|| FormatError::malformed("_rels/.rels has no <Relationships> root"))?;
    let mut n = rels.len() + 1;
    while rels.iter().any(|r| r.id == format!("rId{n}")) {
        n += 1;
    }
    let rel = format!("<Relationship Id=\"rId{n}\" Type=\"{CUSTOM_REL_TYPE}\" Target=\"{part}\"/>");
    let tag = xml.get(root_end.clone()).ok_or_else(|| xml_err("span"))?;
    let head = xml.get(..root_end.start).ok_or_else(|| xml_err("span"))?;
    let tail = xml.get(root_end.end..).ok_or_else(|| xml_err("span"))?;
    let middle = if tag.ends_with("/>") {
        let open = tag.trim_end_matches('>').trim_end().trim_end_matches('/');
        format!("{open}>{rel}</Relationships>")
    } else {
        format!("{rel}{tag}")
    };
    Ok(Some(format!("{bom}{head}{middle}{tail}")))
}

/// `[Content_Types].xml` with the custom-properties Override for `part`, or `None` if present.
fn merge_content_types(existing: &str, part: &str) -> Result<Option<String>, FormatError> {
    let (bom, xml) = split_bom(existing);
    let part_name = format!("/{part}");
    let mut root_end = None;
    let mut wrong = None;
    for s in events(xml)? {
        match &s.ev {
            Event::Start(e) | Event::Empty(e) if local(e.name().as_ref()) == "Override" => {
                let pn = attr(e, "PartName").unwrap_or_default();
                if pn.eq_ignore_ascii_case(&part_name) {
                    if attr(e, "ContentType").as_deref() == Some(CUSTOM_CT) {
                        return Ok(None);
                    }
                    if matches!(s.ev, Event::Empty(_)) {
                        wrong = Some(s.span.clone());
                    }
                }
            }
            Event::End(e) if local(e.name().as_ref()) == "Types" => {
                root_end = Some((s.span.clone(), false));
            }
            Event::Empty(e) if local(e.name().as_ref()) == "Types" => {
                root_end = Some((s.span.clone(), true));
            }
            _ => {}
        }
    }
    let ov = format!("<Override PartName=\"{part_name}\" ContentType=\"{CUSTOM_CT}\"/>");
    if let Some(w) = wrong {
        let head = xml.get(..w.start).ok_or_else(|| xml_err("span"))?;
        let tail = xml.get(w.end..).ok_or_else(|| xml_err("span"))?;
        return Ok(Some(format!("{bom}{head}{ov}{tail}")));
    }
    let (span, empty) = root_end
        .ok_or_else(|| FormatError::malformed("[Content_Types].xml has no <Types> root"))?;
    let tag = xml.get(span.clone()).ok_or_else(|| xml_err("span"))?;
    let head = xml.get(..span.start).ok_or_else(|| xml_err("span"))?;
    let tail = xml.get(span.end..).ok_or_else(|| xml_err("span"))?;
    let middle = if empty {
        let open = tag.trim_end_matches('>').trim_end().trim_end_matches('/');
        format!("{open}>{ov}</Types>")
    } else {
        format!("{ov}{tag}")
    };
    Ok(Some(format!("{bom}{head}{middle}{tail}")))
}

/// The names of the three parts labelling may rewrite, as found in (or planned for) `ar`.
struct Parts {
    content_types: usize,
    rels: Option<usize>,
    rels_xml: Option<String>,
    /// ZIP name of the custom-properties part (existing or to be created).
    custom_name: String,
    custom: Option<usize>,
}

fn locate(ar: &mut Archive<'_>) -> Result<Parts, FormatError> {
    let content_types = find_entry(ar, CONTENT_TYPES).ok_or_else(|| {
        FormatError::Unsupported("ZIP without [Content_Types].xml is not an OOXML package".into())
    })?;
    let rels = find_entry(ar, ROOT_RELS);
    let rels_xml = match rels {
        Some(i) => Some(read_part(ar, i)?),
        None => None,
    };
    let target = match &rels_xml {
        Some(x) => custom_target(&parse_rels(split_bom(x).1)?.0),
        None => None,
    };
    let custom_name = target.unwrap_or_else(|| DEFAULT_CUSTOM.to_string());
    let custom = find_entry(ar, &custom_name);
    let custom_name = match custom.and_then(|i| ar.name_for_index(i)) {
        Some(Ok(n)) => n.into_owned(),
        _ => custom_name,
    };
    Ok(Parts {
        content_types,
        rels,
        rels_xml,
        custom_name,
        custom,
    })
}

// ---------------------------------------------------------------------------------------------
// The three entry points

/// Reports every label-shaped custom property: `AIGC` is canonical, other spellings are not.
pub(crate) fn scan(src: &mut dyn ReadSeek) -> Result<Scan, FormatError> {
    let mut ar = open(src)?;
    let parts = locate(&mut ar)?;
    let mut out = Scan::default();
    let registered = parts
        .rels_xml
        .as_deref()
        .map(|x| parse_rels(split_bom(x).1).map(|(r, _)| custom_target(&r).is_some()))
        .transpose()?
        .unwrap_or(false);
    let Some(ci) = parts.custom else {
        if registered {
            out.notes.push(format!(
                "ooxml: _rels/.rels names {} but the package has no such part",
                parts.custom_name
            ));
        }
        return Ok(out);
    };
    let xml = read_part(&mut ar, ci)?;
    let c = parse_custom(split_bom(&xml).1)?;
    let loc_part = &parts.custom_name;
    for p in &c.props {
        if !p.name.to_ascii_lowercase().contains("aigc") {
            continue;
        }
        let canonical = p.name == "AIGC";
        if canonical {
            if p.fmtid != FMTID {
                out.notes.push(format!(
                    "ooxml: AIGC property has fmtid {:?}, expected {FMTID}",
                    p.fmtid
                ));
            }
            if p.value_type != "lpwstr" {
                out.notes.push(format!(
                    "ooxml: AIGC property value is vt:{}, expected vt:lpwstr",
                    p.value_type
                ));
            }
            if p.pid.is_none_or(|n| n < 2) {
                out.notes
                    .push("ooxml: AIGC property pid is missing or below 2".into());
            }
        } else if !p.value.contains("Label") {
            continue;
        }
        out.sites.push(RawSite {
            location: format!("ooxml:{loc_part}:property:{}", p.name),
            canonical,
            payload: SitePayload::Json(p.value.clone()),
        });
    }
    let mut pids: Vec<u64> = c.props.iter().filter_map(|p| p.pid).collect();
    pids.sort_unstable();
    if pids.windows(2).any(|w| w.first() == w.get(1)) {
        out.notes
            .push("ooxml: custom properties share a pid".into());
    }
    if !out.sites.is_empty() {
        if !registered {
            out.notes.push(format!(
                "ooxml: {loc_part} is not referenced from _rels/.rels (Office ignores it)"
            ));
        }
        let ct = read_part(&mut ar, parts.content_types)?;
        if merge_content_types(&ct, &parts.custom_name)?.is_some() {
            out.notes.push(format!(
                "ooxml: [Content_Types].xml lacks the custom-properties Override for /{loc_part}"
            ));
        }
    }
    Ok(out)
}

/// Rewrites the package with one canonical `AIGC` custom property, copying all other entries raw.
pub(crate) fn write(
    src: &mut dyn ReadSeek,
    dst: &mut dyn WriteSeek,
    label_json: &str,
) -> Result<(), FormatError> {
    let mut ar = open(src)?;
    let parts = locate(&mut ar)?;
    let ct_xml = read_part(&mut ar, parts.content_types)?;
    let custom_xml = match parts.custom {
        Some(i) => Some(read_part(&mut ar, i)?),
        None => None,
    };
    let new_custom = merge_custom(custom_xml.as_deref(), label_json)?;
    let new_rels = merge_rels(parts.rels_xml.as_deref(), &parts.custom_name)?;
    let new_ct = merge_content_types(&ct_xml, &parts.custom_name)?;

    let mut zw = zip::ZipWriter::new(dst);
    let comment = ar.comment().to_vec();
    if !comment.is_empty() {
        zw.set_raw_comment(comment.into_boxed_slice())
            .map_err(zip_err)?;
    }
    let opts = |ar: &mut Archive<'_>, idx: Option<usize>| -> SimpleFileOptions {
        let time = idx
            .and_then(|i| ar.by_index_raw(i).ok())
            .and_then(|f| f.last_modified())
            .unwrap_or_default();
        SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .last_modified_time(time)
    };
    let put = |zw: &mut zip::ZipWriter<&mut dyn WriteSeek>,
               name: &str,
               o: SimpleFileOptions,
               data: &str|
     -> Result<(), FormatError> {
        zw.start_file(name, o).map_err(zip_err)?;
        zw.write_all(data.as_bytes())?;
        Ok(())
    };
    for i in 0..ar.len() {
        let replacement = if i == parts.content_types {
            new_ct.as_deref()
        } else if Some(i) == parts.rels {
            new_rels.as_deref()
        } else if Some(i) == parts.custom {
            Some(new_custom.as_str())
        } else {
            None
        };
        match replacement {
            Some(data) => {
                let name = match ar.name_for_index(i) {
                    Some(Ok(n)) => n.into_owned(),
                    _ => return Err(FormatError::malformed("zip entry name is not UTF-8")),
                };
                let o = opts(&mut ar, Some(i));
                put(&mut zw, &name, o, data)?;
            }
            None => {
                let f = ar.by_index_raw(i).map_err(zip_err)?;
                zw.raw_copy_file(f).map_err(zip_err)?;
            }
        }
    }
    if parts.rels.is_none()
        && let Some(r) = new_rels.as_deref()
    {
        put(&mut zw, ROOT_RELS, opts(&mut ar, None), r)?;
    }
    if parts.custom.is_none() {
        put(
            &mut zw,
            &parts.custom_name,
            opts(&mut ar, None),
            &new_custom,
        )?;
    }
    zw.finish().map_err(zip_err)?;
    Ok(())
}

/// Content selection: every ZIP entry except `[Content_Types].xml`, `_rels/.rels`,
/// `docProps/custom.xml` and the custom-properties part `_rels/.rels` names (compared
/// case-insensitively), and except directory entries, sorted by raw entry name; for each, the
/// name, a NUL byte, the uncompressed size as 8 bytes big-endian, then the uncompressed data.
///
/// Uncompressed data (not the CRC-32, which a forger can match at will, nor the compressed
/// bytes, which another ZIP tool may re-deflate) binds the content itself; the size makes the
/// framing unambiguous. Decompression is streamed into `sink`, so memory stays bounded; the
/// ZIP reader checks each entry's CRC-32 as it goes.
pub(crate) fn content_digest(
    src: &mut dyn ReadSeek,
    sink: &mut dyn Write,
) -> Result<(), FormatError> {
    let mut ar = open(src)?;
    let parts = locate(&mut ar)?;
    let excluded = [
        CONTENT_TYPES,
        ROOT_RELS,
        DEFAULT_CUSTOM,
        parts.custom_name.as_str(),
    ];
    let mut names: Vec<(Vec<u8>, usize)> = ar
        .file_names_raw()
        .enumerate()
        .filter(|(_, n)| !n.ends_with(b"/"))
        .filter(|(_, n)| {
            !excluded
                .iter()
                .any(|x| n.eq_ignore_ascii_case(x.as_bytes()))
        })
        .map(|(i, n)| (n.to_vec(), i))
        .collect();
    names.sort();
    for (name, i) in names {
        let mut f = ar.by_index(i).map_err(zip_err)?;
        let size = f.size();
        sink.write_all(&name)?;
        sink.write_all(&[0])?;
        sink.write_all(&size.to_be_bytes())?;
        let copied = std::io::copy(&mut (&mut f).take(size), sink)?;
        if copied != size {
            return Err(FormatError::Truncated("OOXML zip entry"));
        }
        // Reading to the end makes the ZIP reader check the CRC-32.
        let mut extra = [0u8; 1];
        if f.read(&mut extra)? != 0 {
            return Err(FormatError::malformed(
                "zip entry is longer than its declared size",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::test_support::{SAMPLE_LABEL, SAMPLE_LABEL_2, test_data, tool};
    use proptest::prelude::*;
    use std::io::Cursor;

    const CT: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/><Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.core-properties+xml"/></Types>"#;
    const RELS: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties" Target="docProps/core.xml"/></Relationships>"#;
    const DOC: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>Hello from hegui</w:t></w:r></w:p></w:body></w:document>"#;
    const CORE: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>Test</dc:title></cp:coreProperties>"#;

    /// A minimal DOCX: entries in the given order, deflated except `stored` names.
    fn make_zip(entries: &[(&str, &str)]) -> Vec<u8> {
        let mut zw = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, data) in entries {
            let method = if name.ends_with(".png") {
                zip::CompressionMethod::Stored
            } else {
                zip::CompressionMethod::Deflated
            };
            zw.start_file(
                *name,
                SimpleFileOptions::default().compression_method(method),
            )
            .unwrap();
            zw.write_all(data.as_bytes()).unwrap();
        }
        zw.finish().unwrap().into_inner()
    }

    fn docx() -> Vec<u8> {
        make_zip(&[
            (CONTENT_TYPES, CT),
            (ROOT_RELS, RELS),
            ("word/document.xml", DOC),
            ("docProps/core.xml", CORE),
            ("word/media/image1.png", "not really a png"),
        ])
    }

    fn run_write(input: &[u8], label: &str) -> Vec<u8> {
        let mut dst = Cursor::new(Vec::new());
        write(&mut Cursor::new(input.to_vec()), &mut dst, label).unwrap();
        dst.into_inner()
    }

    fn run_scan(input: &[u8]) -> Scan {
        scan(&mut Cursor::new(input.to_vec())).unwrap()
    }

    fn digest(input: &[u8]) -> Vec<u8> {
        let mut sink = Vec::new();
        content_digest(&mut Cursor::new(input.to_vec()), &mut sink).unwrap();
        sink
    }

    fn entry(zip: &[u8], name: &str) -> Option<String> {
        let mut ar = ZipArchive::new(Cursor::new(zip.to_vec())).unwrap();
        let mut f = ar.by_name(name).ok()?;
        let mut s = String::new();
        f.read_to_string(&mut s).unwrap();
        Some(s)
    }

    /// (name, compression, crc, compressed bytes) of every entry, in order.
    fn raw_entries(zip: &[u8]) -> Vec<(String, u32, Vec<u8>)> {
        let mut ar = ZipArchive::new(Cursor::new(zip.to_vec())).unwrap();
        (0..ar.len())
            .map(|i| {
                let mut f = ar.by_index_raw(i).unwrap();
                let name = f.name().unwrap().to_string();
                let crc = f.crc32();
                let mut raw = Vec::new();
                f.read_to_end(&mut raw).unwrap();
                (name, crc, raw)
            })
            .collect()
    }

    fn canonical(s: &Scan) -> Vec<String> {
        s.sites
            .iter()
            .filter(|x| x.canonical)
            .map(|x| match &x.payload {
                SitePayload::Json(j) | SitePayload::Xmp(j) => j.clone(),
            })
            .collect()
    }

    #[test]
    fn ds16_ooxml_roundtrip_one_site() {
        let input = docx();
        assert!(run_scan(&input).sites.is_empty());
        let out = run_write(&input, SAMPLE_LABEL);
        let s = run_scan(&out);
        assert_eq!(s.sites.len(), 1, "{s:?}");
        assert_eq!(canonical(&s), vec![SAMPLE_LABEL.to_string()]);
        assert!(s.notes.is_empty(), "{:?}", s.notes);
        let custom = entry(&out, "docProps/custom.xml").unwrap();
        assert!(custom.contains(&format!(
            "<property fmtid=\"{FMTID}\" pid=\"2\" name=\"AIGC\"><vt:lpwstr>{SAMPLE_LABEL}</vt:lpwstr></property>"
        )), "{custom}");
        let rels = entry(&out, ROOT_RELS).unwrap();
        assert!(rels.contains(&format!("<Relationship Id=\"rId3\" Type=\"{CUSTOM_REL_TYPE}\" Target=\"docProps/custom.xml\"/></Relationships>")), "{rels}");
        let ct = entry(&out, CONTENT_TYPES).unwrap();
        assert!(
            ct.contains(&format!(
                "<Override PartName=\"/docProps/custom.xml\" ContentType=\"{CUSTOM_CT}\"/></Types>"
            )),
            "{ct}"
        );
    }

    #[test]
    fn ds16_ooxml_payload_byte_identical() {
        let input = docx();
        let out = run_write(&input, SAMPLE_LABEL);
        let a = raw_entries(&input);
        let b = raw_entries(&out);
        // Same order, the three parts edited or appended, everything else raw-identical.
        let names_b: Vec<&str> = b.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(
            names_b,
            [
                CONTENT_TYPES,
                ROOT_RELS,
                "word/document.xml",
                "docProps/core.xml",
                "word/media/image1.png",
                "docProps/custom.xml"
            ]
        );
        for (x, y) in a.iter().zip(&b).skip(2) {
            assert_eq!(x, y);
        }
        assert_eq!(digest(&input), digest(&out));
        assert!(!digest(&input).is_empty());
        let twice = run_write(&out, SAMPLE_LABEL_2);
        assert_eq!(digest(&twice), digest(&input));
    }

    #[test]
    fn ds16_ooxml_write_twice_one_site() {
        let once = run_write(&docx(), SAMPLE_LABEL);
        let twice = run_write(&once, SAMPLE_LABEL_2);
        let s = run_scan(&twice);
        assert_eq!(canonical(&s), vec![SAMPLE_LABEL_2.to_string()]);
        assert_eq!(s.sites.len(), 1);
        // Registration parts did not change the second time (raw-copied).
        assert_eq!(raw_entries(&once)[0], raw_entries(&twice)[0]);
        assert_eq!(raw_entries(&once)[1], raw_entries(&twice)[1]);
        let rels = entry(&twice, ROOT_RELS).unwrap();
        assert_eq!(rels.matches("custom-properties").count(), 1);
        let ct = entry(&twice, CONTENT_TYPES).unwrap();
        assert_eq!(ct.matches("/docProps/custom.xml").count(), 1);
    }

    #[test]
    fn ds16_ooxml_merges_existing_custom_properties() {
        let custom = format!(
            r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Properties xmlns="{CP_NS}" xmlns:vt="{VT_NS}"><property fmtid="{FMTID}" pid="2" name="Client"><vt:lpwstr>A &amp; B</vt:lpwstr></property><property fmtid="{FMTID}" pid="3" name="aigc"><vt:lpwstr>{{"Label":"2"}}</vt:lpwstr></property><property fmtid="{FMTID}" pid="5" name="AIGC_Label"><vt:lpwstr>{{&quot;Label&quot;:&quot;3&quot;}}</vt:lpwstr></property><property fmtid="{FMTID}" pid="4" name="Reviewed"><vt:bool>true</vt:bool></property></Properties>"#
        );
        let rels = RELS.replace(
            "</Relationships>",
            &format!("<Relationship Id=\"rId3\" Type=\"{CUSTOM_REL_TYPE}\" Target=\"/docProps/custom.xml\"/></Relationships>"),
        );
        let ct = CT.replace(
            "</Types>",
            &format!(
                "<Override PartName=\"/docProps/custom.xml\" ContentType=\"{CUSTOM_CT}\"/></Types>"
            ),
        );
        let input = make_zip(&[
            (CONTENT_TYPES, &ct),
            (ROOT_RELS, &rels),
            ("word/document.xml", DOC),
            ("docProps/custom.xml", &custom),
        ]);
        let s = run_scan(&input);
        assert_eq!(s.sites.len(), 2, "{s:?}");
        assert!(s.sites.iter().all(|x| !x.canonical));
        assert_eq!(
            s.sites[1].payload,
            SitePayload::Json(r#"{"Label":"3"}"#.into())
        );
        let out = run_write(&input, SAMPLE_LABEL);
        let s = run_scan(&out);
        assert_eq!(s.sites.len(), 1, "{s:?}");
        assert_eq!(canonical(&s), vec![SAMPLE_LABEL.to_string()]);
        let new_custom = entry(&out, "docProps/custom.xml").unwrap();
        assert!(new_custom.contains(r#"name="Client"><vt:lpwstr>A &amp; B</vt:lpwstr>"#));
        assert!(new_custom.contains(r#"name="Reviewed"><vt:bool>true</vt:bool>"#));
        assert!(
            new_custom.contains(r#"pid="5" name="AIGC">"#),
            "{new_custom}"
        );
        // Registration already present: the parts are copied raw.
        assert_eq!(raw_entries(&input)[0], raw_entries(&out)[0]);
        assert_eq!(raw_entries(&input)[1], raw_entries(&out)[1]);
    }

    #[test]
    fn ds16_ooxml_prefixed_and_empty_custom_root() {
        let custom = format!("<op:Properties xmlns:op=\"{CP_NS}\" xmlns:v=\"{VT_NS}\"/>");
        let input = make_zip(&[
            (CONTENT_TYPES, CT),
            (ROOT_RELS, RELS),
            ("docProps/custom.xml", &custom),
        ]);
        let out = run_write(&input, SAMPLE_LABEL);
        let c = entry(&out, "docProps/custom.xml").unwrap();
        assert!(
            c.starts_with(&format!(
                "<op:Properties xmlns:op=\"{CP_NS}\" xmlns:v=\"{VT_NS}\"><op:property "
            )),
            "{c}"
        );
        assert!(c.contains("<v:lpwstr>"));
        assert!(c.ends_with("</op:Properties>"));
        assert_eq!(canonical(&run_scan(&out)), vec![SAMPLE_LABEL.to_string()]);
    }

    #[test]
    fn ds16_ooxml_escapes_label() {
        let label = r#"{"Label":"1","ContentProducer":"a<b>&c","ProduceID":"x","ReservedCode1":"","ContentPropagator":"","PropagateID":"","ReservedCode2":""}"#;
        let out = run_write(&docx(), label);
        let c = entry(&out, "docProps/custom.xml").unwrap();
        assert!(c.contains("a&lt;b&gt;&amp;c"));
        assert_eq!(canonical(&run_scan(&out)), vec![label.to_string()]);
    }

    #[test]
    fn ooxml_not_a_package_is_error() {
        let plain = make_zip(&[("a.txt", "hello")]);
        assert!(matches!(
            scan(&mut Cursor::new(plain.clone())),
            Err(FormatError::Unsupported(_))
        ));
        let mut dst = Cursor::new(Vec::new());
        assert!(write(&mut Cursor::new(plain), &mut dst, SAMPLE_LABEL).is_err());
    }

    #[test]
    fn ooxml_truncated_is_error() {
        let input = docx();
        for cut in [0, 10, input.len() / 2, input.len() - 10] {
            assert!(scan(&mut Cursor::new(input[..cut].to_vec())).is_err());
            let mut dst = Cursor::new(Vec::new());
            assert!(
                write(
                    &mut Cursor::new(input[..cut].to_vec()),
                    &mut dst,
                    SAMPLE_LABEL
                )
                .is_err()
            );
        }
    }

    #[test]
    fn ooxml_zip_bomb_part_is_refused() {
        let big = " ".repeat((MAX_SITE_BYTES + 10) as usize);
        let custom = format!("<Properties xmlns=\"{CP_NS}\">{big}</Properties>");
        let input = make_zip(&[
            (CONTENT_TYPES, CT),
            (ROOT_RELS, RELS),
            ("docProps/custom.xml", &custom),
        ]);
        assert!(input.len() < 1 << 20);
        assert!(matches!(
            scan(&mut Cursor::new(input)),
            Err(FormatError::TooLarge { .. })
        ));
    }

    fn run(cmd: &mut std::process::Command) -> String {
        let o = cmd.output().unwrap();
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    }

    #[test]
    fn ds16_ooxml_interop_exiftool_reads() {
        let Some(exiftool) = tool("exiftool") else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("labelled.docx");
        std::fs::write(&p, run_write(&docx(), SAMPLE_LABEL)).unwrap();
        let out = run(std::process::Command::new(exiftool)
            .args(["-j", "-XML:AIGC"])
            .arg(&p));
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v[0]["AIGC"], SAMPLE_LABEL, "{out}");
    }

    #[test]
    fn ds16_ooxml_interop_unzip_test() {
        // Also verified in-process by every test that reopens the output with the zip crate;
        // Info-ZIP's check is an extra, optional witness (not required in CI).
        let Some(unzip) = optional_tool("unzip") else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("labelled.docx");
        std::fs::write(&p, run_write(&docx(), SAMPLE_LABEL)).unwrap();
        let o = std::process::Command::new(unzip)
            .arg("-t")
            .arg(&p)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    }

    /// LibreOffice opens the labelled real documents (converting them proves the parse).
    #[test]
    fn ds16_ooxml_interop_libreoffice_opens() {
        let Some(soffice) = which_soffice() else {
            return;
        };
        for (name, target) in [
            ("ooxml-sample.docx", "txt"),
            ("ooxml-sample.xlsx", "csv"),
            ("ooxml-sample.pptx", "pdf"),
        ] {
            let input = std::fs::read(test_data(name)).unwrap();
            let dir = tempfile::tempdir().unwrap();
            let ext = name.rsplit('.').next().unwrap();
            let p = dir.path().join(format!("labelled.{ext}"));
            std::fs::write(&p, run_write(&input, SAMPLE_LABEL)).unwrap();
            let o = std::process::Command::new(&soffice)
                .env("HOME", dir.path())
                .args(["--headless", "--convert-to", target, "--outdir"])
                .arg(dir.path())
                .arg(&p)
                .output()
                .unwrap();
            let converted = dir.path().join(format!("labelled.{target}"));
            assert!(
                converted.exists(),
                "{name}: {}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
            if target == "txt" {
                let t = std::fs::read_to_string(&converted).unwrap();
                assert!(t.contains("hegui"), "{t}");
                // LibreOffice read the custom property: it carries it into the ODF meta.xml.
                std::process::Command::new(&soffice)
                    .env("HOME", dir.path())
                    .args(["--headless", "--convert-to", "odt", "--outdir"])
                    .arg(dir.path())
                    .arg(&p)
                    .output()
                    .unwrap();
                let odt = std::fs::read(dir.path().join("labelled.odt")).unwrap();
                let meta = entry(&odt, "meta.xml").unwrap();
                let escaped = SAMPLE_LABEL.replace('"', "&quot;");
                assert!(
                    meta.contains(&format!("meta:name=\"AIGC\">{escaped}<"))
                        || meta.contains(&format!("meta:name=\"AIGC\">{SAMPLE_LABEL}<")),
                    "{meta}"
                );
            }
        }
    }

    fn which_soffice() -> Option<std::path::PathBuf> {
        // LibreOffice is optional here (a large install): skip unless it is present, even in CI.
        optional_tool("soffice").or_else(|| optional_tool("libreoffice"))
    }

    /// Finds `name` on PATH; unlike `test_support::tool`, a missing tool always just skips.
    fn optional_tool(name: &str) -> Option<std::path::PathBuf> {
        let o = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("command -v {name}"))
            .output()
            .ok()?;
        let p = String::from_utf8_lossy(&o.stdout).trim().to_string();
        if p.is_empty() {
            eprintln!("skipping: {name} not on PATH");
            return None;
        }
        Some(p.into())
    }

    #[test]
    fn ds16_ooxml_real_documents_roundtrip() {
        for name in [
            "ooxml-sample.docx",
            "ooxml-sample.xlsx",
            "ooxml-sample.pptx",
        ] {
            let input = std::fs::read(test_data(name)).unwrap();
            let out = run_write(&input, SAMPLE_LABEL);
            let s = run_scan(&out);
            assert_eq!(canonical(&s), vec![SAMPLE_LABEL.to_string()], "{name}");
            assert_eq!(s.sites.len(), 1);
            assert!(s.notes.is_empty(), "{name}: {:?}", s.notes);
            assert_eq!(digest(&out), digest(&input), "{name}");
            let twice = run_write(&out, SAMPLE_LABEL_2);
            assert_eq!(
                canonical(&run_scan(&twice)),
                vec![SAMPLE_LABEL_2.to_string()]
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn ooxml_scan_never_panics(data in proptest::collection::vec(any::<u8>(), 0..1024)) {
            let _ = scan(&mut Cursor::new(data.clone()));
            let _ = content_digest(&mut Cursor::new(data), &mut Vec::new());
        }

        #[test]
        fn ooxml_scan_survives_mutations(cut in 0usize..4000, flips in proptest::collection::vec((0usize..4000, any::<u8>()), 0..6)) {
            let mut data = run_write(&docx(), SAMPLE_LABEL);
            for (i, b) in flips {
                let n = data.len();
                if let Some(x) = data.get_mut(i % n) { *x = b; }
            }
            data.truncate(cut.min(data.len()));
            let _ = scan(&mut Cursor::new(data.clone()));
            let _ = content_digest(&mut Cursor::new(data.clone()), &mut Vec::new());
            let mut dst = Cursor::new(Vec::new());
            let _ = write(&mut Cursor::new(data), &mut dst, SAMPLE_LABEL);
        }
    }
}
