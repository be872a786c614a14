//! audio explicit label (being written).
