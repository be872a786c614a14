//! Turning what a format reader found (JSON strings, XMP packets) into labels.
//!
//! Shared by the writer's read-back check, propagation and the inspector, so that all three
//! count label sites the same way.

use crate::format::{RawSite, Scan, SitePayload};
use crate::label::{ImplicitLabel, LabelError, ParsedLabel};
use crate::xmp;

/// How a label was serialised at its site.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SiteForm {
    /// The bare 7-key object.
    Bare,
    /// `{"AIGC":{…}}`.
    Wrapped,
    /// Text that claims to be a label but is not parseable JSON.
    Unparsed,
}

/// One label site with its decoded content.
#[derive(Debug, Clone)]
pub struct FoundLabel {
    /// Where it is.
    pub location: String,
    /// The guide's placement for the format.
    pub canonical: bool,
    /// For XMP sites: the namespace, and whether it is the standard's.
    pub xmp_namespace: Option<(String, bool)>,
    /// The decoded label, or why it could not be decoded.
    pub parsed: Result<ParsedLabel, LabelError>,
}

impl FoundLabel {
    /// How the label was written.
    pub fn form(&self) -> SiteForm {
        match &self.parsed {
            Ok(p) if p.wrapped => SiteForm::Wrapped,
            Ok(_) => SiteForm::Bare,
            Err(_) => SiteForm::Unparsed,
        }
    }

    /// The label, if it decoded.
    pub fn label(&self) -> Option<&ImplicitLabel> {
        self.parsed.as_ref().ok().map(|p| &p.label)
    }
}

/// Every label in a scan: JSON sites directly, and each `AIGC` property of each XMP packet.
/// XMP packets without an AIGC property are not label sites.
pub fn labels_in(scan: &Scan) -> Vec<FoundLabel> {
    let mut out = Vec::new();
    for RawSite {
        location,
        canonical,
        payload,
    } in &scan.sites
    {
        match payload {
            SitePayload::Json(text) => out.push(FoundLabel {
                location: location.clone(),
                canonical: *canonical,
                xmp_namespace: None,
                parsed: ImplicitLabel::parse(text),
            }),
            SitePayload::Xmp(packet) => {
                for found in xmp::find_labels(packet) {
                    out.push(FoundLabel {
                        location: location.clone(),
                        canonical: *canonical && found.conforming_namespace,
                        xmp_namespace: Some((found.namespace.clone(), found.conforming_namespace)),
                        parsed: ImplicitLabel::parse(&found.value),
                    });
                }
            }
        }
    }
    out
}
