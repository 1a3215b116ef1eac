//! The server side: parsing requests, writing responses and faults.
