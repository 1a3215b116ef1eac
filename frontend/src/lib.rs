//! The winrelay browser app.
