//! JSON (todo)
