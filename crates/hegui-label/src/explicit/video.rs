//! video explicit label (being written).
