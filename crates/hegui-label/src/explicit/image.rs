//! image explicit label (being written).
