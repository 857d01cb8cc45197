//! Placeholder until the e2e tests land.
