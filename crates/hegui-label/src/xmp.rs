//! XMP packets carrying the TC260 `AIGC` property (being written).

/// The namespace URI GB 45438 image labels use.
pub const TC260_NS: &str = "http://www.tc260.org.cn/ns/AIGC/1.0/";

/// Why an existing XMP packet could not be merged.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum XmpError {
    /// The packet is not well-formed RDF/XML.
    #[error("existing XMP packet is malformed: {0}")]
    Malformed(String),
}

/// One `AIGC` property found in a packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmpLabel {
    /// The unescaped property value (the label JSON).
    pub value: String,
    /// The namespace URI the property was in.
    pub namespace: String,
    /// True when `namespace` is [`TC260_NS`].
    pub conforming_namespace: bool,
}

/// Returns `existing` (or a new packet) with exactly one `TC260:AIGC` property holding `label_json`.
pub fn merge_label(existing: Option<&str>, label_json: &str) -> Result<String, XmpError> {
    let _ = existing;
    Ok(format!("<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\"><rdf:Description rdf:about=\"\" xmlns:TC260=\"{TC260_NS}\"><TC260:AIGC>{}</TC260:AIGC></rdf:Description></rdf:RDF></x:xmpmeta>", label_json.replace('&', "&amp;").replace('<', "&lt;")))
}

/// Every `AIGC` property in `packet`, conforming or not. Never fails.
pub fn find_labels(packet: &str) -> Vec<XmpLabel> {
    let _ = packet;
    Vec::new()
}
