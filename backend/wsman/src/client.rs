//! The client side: writing requests, parsing responses and faults.
