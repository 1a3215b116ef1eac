//! Messages (MS-PSRP 2.2.1): the 40-byte header and the message types.

use std::fmt;

/// Size of a message header in bytes.
pub const HEADER_LEN: usize = 40;

/// The UTF-8 byte order mark Windows puts before every message's data.
pub const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Who a message is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Destination {
    /// Server to client (1).
    Client,
    /// Client to server (2).
    Server,
}

impl Destination {
    /// The wire value.
    pub fn value(self) -> u32 {
        match self {
            Destination::Client => 1,
            Destination::Server => 2,
        }
    }
}

macro_rules! message_types {
    ($($(#[$doc:meta])* $name:ident = $value:expr,)*) => {
        /// A message type (MS-PSRP 2.2.1). The values are not consecutive decimals:
        /// `0x00041009` is followed by `0x00041010`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[allow(non_camel_case_types)]
        pub enum MessageType {
            $($(#[$doc])* $name,)*
        }

        impl MessageType {
            /// Every known type.
            pub const ALL: &'static [MessageType] = &[$(MessageType::$name,)*];

            /// The wire value.
            pub fn value(self) -> u32 {
                match self { $(MessageType::$name => $value,)* }
            }

            /// The type of a wire value.
            pub fn from_value(v: u32) -> Option<MessageType> {
                match v { $($value => Some(MessageType::$name),)* _ => None }
            }

            /// The name MS-PSRP uses (`SESSION_CAPABILITY`).
            pub fn name(self) -> &'static str {
                match self { $(MessageType::$name => stringify!($name),)* }
            }
        }
    };
}

message_types! {
    /// Protocol and serialization versions (both directions).
    SESSION_CAPABILITY = 0x0001_0002,
    /// Opens a pool: sizes, thread options, host info, application arguments.
    INIT_RUNSPACEPOOL = 0x0001_0004,
    /// The client's RSA public key.
    PUBLIC_KEY = 0x0001_0005,
    /// The session key, encrypted with the client's public key.
    ENCRYPTED_SESSION_KEY = 0x0001_0006,
    /// The server asks for the client's public key.
    PUBLIC_KEY_REQUEST = 0x0001_0007,
    /// Reattach to a disconnected pool.
    CONNECT_RUNSPACEPOOL = 0x0001_0008,
    /// Change the pool's maximum size.
    SET_MAX_RUNSPACES = 0x0002_1002,
    /// Change the pool's minimum size.
    SET_MIN_RUNSPACES = 0x0002_1003,
    /// Answer to set/get/reset requests.
    RUNSPACE_AVAILABILITY = 0x0002_1004,
    /// The pool's state.
    RUNSPACEPOOL_STATE = 0x0002_1005,
    /// Start a pipeline.
    CREATE_PIPELINE = 0x0002_1006,
    /// Ask how many runspaces are free.
    GET_AVAILABLE_RUNSPACES = 0x0002_1007,
    /// A PowerShell event forwarded to the client.
    USER_EVENT = 0x0002_1008,
    /// `PSVersionTable` and other private data of the server.
    APPLICATION_PRIVATE_DATA = 0x0002_1009,
    /// Run Get-Command on the server.
    GET_COMMAND_METADATA = 0x0002_100A,
    /// Pool sizes, answered to a Connect.
    RUNSPACEPOOL_INIT_DATA = 0x0002_100B,
    /// Reset the runspace's state (protocol 2.3).
    RESET_RUNSPACE_STATE = 0x0002_100C,
    /// A host method call for the pool's host.
    RUNSPACEPOOL_HOST_CALL = 0x0002_1100,
    /// The answer to a pool host call.
    RUNSPACEPOOL_HOST_RESPONSE = 0x0002_1101,
    /// One input object for a pipeline.
    PIPELINE_INPUT = 0x0004_1002,
    /// No more pipeline input.
    END_OF_PIPELINE_INPUT = 0x0004_1003,
    /// One output object.
    PIPELINE_OUTPUT = 0x0004_1004,
    /// One error record.
    ERROR_RECORD = 0x0004_1005,
    /// The pipeline's state (its last message).
    PIPELINE_STATE = 0x0004_1006,
    /// A debug record.
    DEBUG_RECORD = 0x0004_1007,
    /// A verbose record.
    VERBOSE_RECORD = 0x0004_1008,
    /// A warning record.
    WARNING_RECORD = 0x0004_1009,
    /// A progress record.
    PROGRESS_RECORD = 0x0004_1010,
    /// An information record (protocol 2.3).
    INFORMATION_RECORD = 0x0004_1011,
    /// A host method call for the pipeline's host.
    PIPELINE_HOST_CALL = 0x0004_1100,
    /// The answer to a pipeline host call.
    PIPELINE_HOST_RESPONSE = 0x0004_1101,
}

impl fmt::Display for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A GUID as the 16 bytes of a message header.
///
/// PowerShell writes .NET byte order (`Guid.ToByteArray`: the first three groups
/// little-endian); old pypsrp clients wrote RFC order and Windows simply echoed them. The raw
/// bytes are kept so a server can copy what it received.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Guid(pub [u8; 16]);

impl Guid {
    /// The all-zero GUID (pool-level messages have it as PID).
    pub const NIL: Guid = Guid([0; 16]);

    /// The header bytes (.NET order) of a GUID written as text
    /// (`76056A84-51DC-4F24-9262-CA2A55464B2B`, any case, braces allowed).
    pub fn parse(text: &str) -> Option<Guid> {
        let rfc = parse_rfc(text)?;
        Some(Guid(swap_order(rfc)))
    }

    /// The header bytes an old client writing RFC byte order (pypsrp before 0.3.1) made
    /// of this text; [`Guid::to_text_rfc`] reads them back.
    pub fn parse_rfc_order(text: &str) -> Option<Guid> {
        parse_rfc(text).map(Guid)
    }

    /// The header bytes of a GUID in RFC (big-endian) byte order.
    pub fn from_rfc_bytes(b: [u8; 16]) -> Guid {
        Guid(swap_order(b))
    }

    /// The GUID's text, reading the bytes in .NET order (upper case, as WinRM writes ids).
    pub fn to_text(&self) -> String {
        format_rfc(&swap_order(self.0))
    }

    /// The text you get when the bytes were written in RFC order (old pypsrp clients).
    pub fn to_text_rfc(&self) -> String {
        format_rfc(&self.0)
    }

    /// True for the all-zero GUID.
    pub fn is_nil(&self) -> bool {
        self.0 == [0; 16]
    }

    /// A fresh random (version 4) GUID from `rng`.
    pub fn random(rng: &mut impl rand_core::RngCore) -> Guid {
        let mut b = [0u8; 16];
        rng.fill_bytes(&mut b);
        b[6] = (b[6] & 0x0F) | 0x40;
        b[8] = (b[8] & 0x3F) | 0x80;
        Guid::from_rfc_bytes(b)
    }
}

impl fmt::Debug for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Guid({})", self.to_text())
    }
}

impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

/// Swaps between RFC and .NET byte order (the operation is its own inverse).
fn swap_order(b: [u8; 16]) -> [u8; 16] {
    let mut o = b;
    o[0..4].reverse();
    o[4..6].reverse();
    o[6..8].reverse();
    o
}

fn parse_rfc(text: &str) -> Option<[u8; 16]> {
    let t = text.trim();
    let t = t
        .strip_prefix('{')
        .and_then(|t| t.strip_suffix('}'))
        .unwrap_or(t);
    let groups: Vec<&str> = t.split('-').collect();
    if groups.iter().map(|g| g.len()).collect::<Vec<_>>() != [8, 4, 4, 4, 12] {
        return None;
    }
    let hex: String = groups.concat();
    let mut out = [0u8; 16];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

fn format_rfc(b: &[u8; 16]) -> String {
    let h: String = b.iter().map(|x| format!("{x:02X}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Why message bytes could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MessageError {
    /// Fewer than 40 bytes.
    #[error("message too short: {0} bytes, a header alone is 40")]
    TooShort(usize),
    /// Destination other than 1 or 2.
    #[error("unknown message destination {0}")]
    BadDestination(u32),
    /// A message type MS-PSRP does not define.
    #[error("unknown message type {0:#010x}")]
    UnknownType(u32),
}

/// One message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Who it is for.
    pub destination: Destination,
    /// What it is.
    pub message_type: MessageType,
    /// The RunspacePool id, as received or to be sent.
    pub rpid: Guid,
    /// The pipeline id; nil for pool messages.
    pub pid: Guid,
    /// The CLIXML data (UTF-8, BOM removed when decoding); may be empty.
    pub data: Vec<u8>,
}

impl Message {
    /// A message with `data` (CLIXML text).
    pub fn new(
        destination: Destination,
        message_type: MessageType,
        rpid: Guid,
        pid: Guid,
        data: impl Into<Vec<u8>>,
    ) -> Message {
        Message {
            destination,
            message_type,
            rpid,
            pid,
            data: data.into(),
        }
    }

    /// The wire bytes. Messages to the client get a BOM before non-empty data, as Windows
    /// writes them; messages to the server go without, as pypsrp and psrpcore send them.
    pub fn encode(&self) -> Vec<u8> {
        let bom = self.destination == Destination::Client && !self.data.is_empty();
        let mut out = Vec::with_capacity(HEADER_LEN + 3 + self.data.len());
        out.extend_from_slice(&self.destination.value().to_le_bytes());
        out.extend_from_slice(&self.message_type.value().to_le_bytes());
        out.extend_from_slice(&self.rpid.0);
        out.extend_from_slice(&self.pid.0);
        if bom {
            out.extend_from_slice(BOM);
        }
        out.extend_from_slice(&self.data);
        out
    }

    /// Decodes a whole message; a leading BOM is removed from the data.
    pub fn decode(bytes: &[u8]) -> Result<Message, MessageError> {
        if bytes.len() < HEADER_LEN {
            return Err(MessageError::TooShort(bytes.len()));
        }
        let dest = u32::from_le_bytes(bytes[0..4].try_into().expect("4 bytes"));
        let destination = match dest {
            1 => Destination::Client,
            2 => Destination::Server,
            other => return Err(MessageError::BadDestination(other)),
        };
        let t = u32::from_le_bytes(bytes[4..8].try_into().expect("4 bytes"));
        let message_type = MessageType::from_value(t).ok_or(MessageError::UnknownType(t))?;
        let rpid = Guid(bytes[8..24].try_into().expect("16 bytes"));
        let pid = Guid(bytes[24..40].try_into().expect("16 bytes"));
        let data = &bytes[HEADER_LEN..];
        let data = data.strip_prefix(BOM).unwrap_or(data);
        Ok(Message {
            destination,
            message_type,
            rpid,
            pid,
            data: data.to_vec(),
        })
    }

    /// The data as text (CLIXML), if it is UTF-8.
    pub fn text(&self) -> Result<&str, std::str::Utf8Error> {
        std::str::from_utf8(&self.data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_map_both_ways() {
        assert_eq!(MessageType::ALL.len(), 31);
        for t in MessageType::ALL {
            assert_eq!(MessageType::from_value(t.value()), Some(*t));
        }
        assert_eq!(MessageType::PROGRESS_RECORD.value(), 0x00041010);
        assert_eq!(
            MessageType::from_value(0x00041011),
            Some(MessageType::INFORMATION_RECORD)
        );
        assert_eq!(MessageType::from_value(0x0004100A), None);
        assert_eq!(
            MessageType::SESSION_CAPABILITY.to_string(),
            "SESSION_CAPABILITY"
        );
    }

    #[test]
    fn guid_orders() {
        let g = Guid::parse("76056A84-51DC-4F24-9262-CA2A55464B2B").unwrap();
        // .NET order: first three groups little-endian.
        assert_eq!(
            g.0,
            [
                0x84, 0x6a, 0x05, 0x76, 0xdc, 0x51, 0x24, 0x4f, 0x92, 0x62, 0xca, 0x2a, 0x55, 0x46,
                0x4b, 0x2b
            ]
        );
        assert_eq!(g.to_text(), "76056A84-51DC-4F24-9262-CA2A55464B2B");
        assert_eq!(
            Guid::parse("{76056a84-51dc-4f24-9262-ca2a55464b2b}"),
            Some(g)
        );
        // The old client's RFC bytes read back with to_text_rfc.
        let rfc = Guid([
            0x76, 0x05, 0x6a, 0x84, 0x51, 0xdc, 0x4f, 0x24, 0x92, 0x62, 0xca, 0x2a, 0x55, 0x46,
            0x4b, 0x2b,
        ]);
        assert_eq!(rfc.to_text_rfc(), "76056A84-51DC-4F24-9262-CA2A55464B2B");
        for bad in [
            "",
            "76056A84",
            "76056A84-51DC-4F24-9262-CA2A55464B2",
            "7605zA84-51DC-4F24-9262-CA2A55464B2B",
        ] {
            assert_eq!(Guid::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn encode_decode() {
        let rpid = Guid::parse("76056A84-51DC-4F24-9262-CA2A55464B2B").unwrap();
        let m = Message::new(
            Destination::Client,
            MessageType::RUNSPACEPOOL_STATE,
            rpid,
            Guid::NIL,
            &b"<I32 N=\"RunspaceState\">2</I32>"[..],
        );
        let bytes = m.encode();
        assert_eq!(&bytes[0..8], &[1, 0, 0, 0, 5, 0x10, 2, 0]);
        assert_eq!(&bytes[40..43], BOM);
        assert_eq!(Message::decode(&bytes).unwrap(), m);
        let to_server = Message::new(
            Destination::Server,
            MessageType::END_OF_PIPELINE_INPUT,
            rpid,
            rpid,
            Vec::new(),
        );
        assert_eq!(to_server.encode().len(), 40);
        assert_eq!(Message::decode(&to_server.encode()).unwrap(), to_server);
        assert_eq!(Message::decode(&[0; 39]), Err(MessageError::TooShort(39)));
        let mut b = bytes.clone();
        b[0] = 3;
        assert_eq!(Message::decode(&b), Err(MessageError::BadDestination(3)));
        let mut b = bytes;
        b[4] = 0x77;
        assert!(matches!(
            Message::decode(&b),
            Err(MessageError::UnknownType(_))
        ));
    }
}
