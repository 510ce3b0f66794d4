//! Many accounts (in progress).
