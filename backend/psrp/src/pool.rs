//! State machines for a RunspacePool and its pipelines, for both ends.
//!
//! They are plain structs: feed them the bytes of a payload (one `creationXml`, `rsp:Stream`,
//! `rsp:Arguments`, …) and they return events; ask them for a message and they return the
//! fragment bytes to put in an envelope. Which envelope is the caller's business (the
//! `wsman::psrp` module writes them); so are sockets, timers and threads.
//!
//! Client: [`ClientPool::open`] → Receive until [`ClientEvent::PoolState`] Opened →
//! [`ClientPool::create_pipeline`] → Receive with the CommandId until
//! [`ClientEvent::PipelineFinished`]; answer [`ClientEvent::HostCall`]s that want a reply with
//! [`ClientPool::host_response`]. Server: the mirror image in [`ServerPool`].
//!
//! A client that continues a pool another client disconnected (MS-PSRP 3.1.4.10) makes a
//! [`ClientPool::new`] with the pool's id, sends [`ClientPool::connect`]'s connectXml in a
//! Connect request and feeds the answer's connectResponseXml to [`ClientPool::receive`]:
//! RUNSPACEPOOL_INIT_DATA makes it Opened (the RUNSPACEPOOL_STATE Opened that Windows repeats
//! on the next pool Receive changes nothing). Its ObjectIds start at 1 and it has no session
//! key until it exchanges one of its own.

use std::collections::{HashMap, HashSet};

use rand_core::CryptoRngCore;

use crate::clixml::{self, Value};
use crate::crypto::{ClientKeyPair, CryptoError, SessionKey};
use crate::fragment::{self, DefragLimits, Defragmenter, FragmentError};
use crate::host::{HostCall, HostMethodId, HostResponse, VOID_CALL_ID};
use crate::message::{Destination, Guid, Message, MessageError, MessageType};
use crate::messages::{
    self, key_blob_value, CreatePipeline, Data, DataError, InitRunspacePool, PipelineStateInfo,
    PoolRequest, RunspaceAvailability, RunspacePoolStateInfo, SessionCapability,
};
use crate::records::{
    ErrorRecord, InformationRecord, InformationalRecord, PipelineState, ProgressRecord,
    RunspacePoolState,
};

/// Why the pool cannot go on (or an operation is not allowed now).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PoolError {
    /// Bad fragments (MS-PSRP says: close the pool).
    #[error(transparent)]
    Fragment(#[from] FragmentError),
    /// A bad message header.
    #[error(transparent)]
    Message(#[from] MessageError),
    /// Bad message data.
    #[error("{message_type}: {error}")]
    Data {
        /// The message.
        message_type: MessageType,
        /// What was wrong.
        error: DataError,
    },
    /// Key exchange failure.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// The operation does not fit the pool's or pipeline's state.
    #[error("not allowed now: {0}")]
    State(String),
    /// A message for a pipeline this pool does not know.
    #[error("unknown pipeline {0}")]
    UnknownPipeline(Guid),
    /// A message that does not belong in this direction or scope.
    #[error("unexpected {0} message")]
    Unexpected(MessageType),
}

/// Which input stream a client payload goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputStream {
    /// `stdin`: ordinary messages.
    Stdin,
    /// `pr`: host call responses.
    Pr,
}

impl InputStream {
    /// The stream name.
    pub fn name(self) -> &'static str {
        match self {
            InputStream::Stdin => "stdin",
            InputStream::Pr => "pr",
        }
    }
}

/// Fragment bytes the client must Send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// `stdin` or `pr`.
    pub stream: InputStream,
    /// The pipeline (the Send's CommandId), or None for the pool.
    pub pipeline: Option<Guid>,
    /// One payload per Send request, each within the envelope's room.
    pub payloads: Vec<Vec<u8>>,
}

/// What the first fragments of CREATE_PIPELINE and the rest look like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineStart {
    /// The `rsp:Arguments` of the Command request.
    pub arguments: Vec<u8>,
    /// Further payloads for Send `stdin` with the CommandId, in order (large pipelines).
    pub rest: Vec<Vec<u8>>,
}

/// Something the server said, for the client to act on.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent {
    /// The server's SESSION_CAPABILITY (its protocol version).
    SessionCapability(SessionCapability),
    /// APPLICATION_PRIVATE_DATA's `ApplicationPrivateData` (PSVersionTable etc.).
    PrivateData(Value),
    /// The pool's state changed (Opened: ready for pipelines; Broken: gone).
    PoolState {
        /// The new state.
        state: RunspacePoolState,
        /// The reason for Broken.
        error: Option<ErrorRecord>,
    },
    /// RUNSPACEPOOL_INIT_DATA after a Connect.
    InitData {
        /// MinRunspaces.
        min: i32,
        /// MaxRunspaces.
        max: i32,
    },
    /// The server asked for the public key: call [`ClientPool::start_key_exchange`].
    PublicKeyRequested,
    /// The session key arrived: SecureStrings can travel.
    SessionKeyReady,
    /// RUNSPACE_AVAILABILITY.
    Availability(RunspaceAvailability),
    /// USER_EVENT.
    UserEvent(Value),
    /// A host call for the pool's host (`pipeline` None) or a pipeline's.
    HostCall {
        /// The pipeline, or None for RUNSPACEPOOL_HOST_CALL.
        pipeline: Option<Guid>,
        /// The call; answer it if [`HostCall::wants_reply`].
        call: HostCall,
    },
    /// One PIPELINE_OUTPUT object.
    Output {
        /// The pipeline.
        pipeline: Guid,
        /// The object.
        value: Value,
    },
    /// One ERROR_RECORD.
    Error {
        /// The pipeline.
        pipeline: Guid,
        /// The record.
        record: ErrorRecord,
    },
    /// A DEBUG, VERBOSE or WARNING record.
    Informational {
        /// The pipeline.
        pipeline: Guid,
        /// DEBUG_RECORD, VERBOSE_RECORD or WARNING_RECORD.
        kind: MessageType,
        /// The record.
        record: InformationalRecord,
    },
    /// A PROGRESS_RECORD.
    Progress {
        /// The pipeline.
        pipeline: Guid,
        /// The record.
        record: ProgressRecord,
    },
    /// An INFORMATION_RECORD.
    Information {
        /// The pipeline.
        pipeline: Guid,
        /// The record.
        record: InformationRecord,
    },
    /// PIPELINE_STATE with a state that is not final (Running, Stopping). Windows does not
    /// send these; psrpcore's server sends Running when a pipeline starts.
    PipelineStateChanged {
        /// The pipeline.
        pipeline: Guid,
        /// The state.
        state: PipelineState,
    },
    /// PIPELINE_STATE: the pipeline's last message.
    PipelineFinished {
        /// The pipeline.
        pipeline: Guid,
        /// Completed, Stopped or Failed.
        state: PipelineState,
        /// The reason for Stopped/Failed.
        error: Option<ErrorRecord>,
    },
}

#[derive(Debug)]
struct ClientPipeline {
    state: PipelineState,
    /// Host calls waiting for an answer.
    pending: HashSet<i64>,
    no_input: bool,
    input_ended: bool,
}

enum KeyState {
    None,
    Sent(Box<ClientKeyPair>),
    Ready(SessionKey),
}

/// The client end of a RunspacePool.
pub struct ClientPool {
    rpid: Guid,
    state: RunspacePoolState,
    next_object_id: u64,
    max_envelope: u32,
    max_fragment: usize,
    server: Option<SessionCapability>,
    private_data: Option<Value>,
    defrag: Defragmenter,
    pipelines: HashMap<Guid, ClientPipeline>,
    pool_pending: HashSet<i64>,
    key: KeyState,
    next_ci: i64,
}

impl std::fmt::Debug for ClientPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientPool")
            .field("rpid", &self.rpid)
            .field("state", &self.state)
            .field("pipelines", &self.pipelines.len())
            .finish()
    }
}

/// Bytes of fragment (header included) that fit one request of `max_envelope_size` with
/// room for the SOAP around it (an empty Send envelope with a full header is about 1.2 KB).
pub fn fragment_room(max_envelope_size: u32) -> usize {
    fragment::payload_room(max_envelope_size, 1_600).max(fragment::HEADER_LEN + 1)
}

fn encode_data(v: &Value) -> Vec<u8> {
    clixml::write(v).into_bytes()
}

impl ClientPool {
    /// A pool with id `rpid` (also the ShellId) whose requests may be `max_envelope_size`
    /// bytes (start with 153600 until the server's capability says 2.2+, as pypsrp does,
    /// or 512000 as PowerShell does).
    pub fn new(rpid: Guid, max_envelope_size: u32) -> ClientPool {
        ClientPool {
            rpid,
            state: RunspacePoolState::BeforeOpen,
            next_object_id: 1,
            max_envelope: max_envelope_size,
            max_fragment: fragment_room(max_envelope_size),
            server: None,
            private_data: None,
            defrag: Defragmenter::new(DefragLimits::default()),
            pipelines: HashMap::new(),
            pool_pending: HashSet::new(),
            key: KeyState::None,
            next_ci: 1,
        }
    }

    /// The pool id.
    pub fn rpid(&self) -> Guid {
        self.rpid
    }

    /// The pool's state.
    pub fn state(&self) -> RunspacePoolState {
        self.state
    }

    /// The server's protocol version, once known.
    pub fn server_protocol(&self) -> Option<(u32, u32)> {
        self.server.as_ref().map(SessionCapability::protocol)
    }

    /// APPLICATION_PRIVATE_DATA, once received.
    pub fn private_data(&self) -> Option<&Value> {
        self.private_data.as_ref()
    }

    /// The session key, once exchanged.
    pub fn session_key(&self) -> Option<&SessionKey> {
        match &self.key {
            KeyState::Ready(k) => Some(k),
            _ => None,
        }
    }

    /// A pipeline's state, if the pool knows it.
    pub fn pipeline_state(&self, pid: Guid) -> Option<PipelineState> {
        self.pipelines.get(&pid).map(|p| p.state)
    }

    /// Changes the room per request (after learning the server's MaxEnvelopeSize).
    pub fn set_max_envelope_size(&mut self, max_envelope_size: u32) {
        self.max_envelope = max_envelope_size;
        self.max_fragment = fragment_room(max_envelope_size);
    }

    /// The MaxEnvelopeSize to put in request headers: what the pool was made with, lowered
    /// to 153600 when the server's SESSION_CAPABILITY says protocol 2.1 or older (WinRM 2.0
    /// servers refuse bigger envelopes; PowerShell's client does the same).
    pub fn max_envelope_size(&self) -> u32 {
        self.max_envelope
    }

    fn message(&self, t: MessageType, pid: Guid, data: Vec<u8>) -> Vec<u8> {
        Message::new(Destination::Server, t, self.rpid, pid, data).encode()
    }

    /// Cuts messages into fragments and packs them into payloads of at most the room of one
    /// request.
    fn pack(&mut self, messages: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
        let mut payloads: Vec<Vec<u8>> = Vec::new();
        let mut cur = Vec::new();
        for m in messages {
            let id = self.next_object_id;
            self.next_object_id += 1;
            for f in fragment::split(id, &m, self.max_fragment) {
                let bytes = f.encode();
                if !cur.is_empty() && cur.len() + bytes.len() > self.max_fragment {
                    payloads.push(std::mem::take(&mut cur));
                }
                cur.extend_from_slice(&bytes);
            }
        }
        if !cur.is_empty() {
            payloads.push(cur);
        }
        payloads
    }

    /// The `creationXml` of the Create request: SESSION_CAPABILITY and INIT_RUNSPACEPOOL.
    pub fn open(&mut self, init: &InitRunspacePool) -> Result<Vec<u8>, PoolError> {
        if self.state != RunspacePoolState::BeforeOpen {
            return Err(PoolError::State(format!(
                "open a pool that is {:?}",
                self.state
            )));
        }
        let caps = self.message(
            MessageType::SESSION_CAPABILITY,
            Guid::NIL,
            encode_data(&SessionCapability::default().to_value()),
        );
        let init = self.message(
            MessageType::INIT_RUNSPACEPOOL,
            Guid::NIL,
            encode_data(&init.to_value()),
        );
        // Everything goes in the one creationXml, however large.
        let mut out = Vec::new();
        for m in [caps, init] {
            let id = self.next_object_id;
            self.next_object_id += 1;
            for f in fragment::split(id, &m, self.max_fragment) {
                f.encode_into(&mut out);
            }
        }
        self.state = RunspacePoolState::Opening;
        Ok(out)
    }

    /// The `connectXml` of a Connect request to a disconnected pool: SESSION_CAPABILITY and
    /// CONNECT_RUNSPACEPOOL (`<S />`, the form Windows accepted from pypsrp).
    pub fn connect(&mut self) -> Result<Vec<u8>, PoolError> {
        if !matches!(
            self.state,
            RunspacePoolState::BeforeOpen | RunspacePoolState::Disconnected
        ) {
            return Err(PoolError::State(format!(
                "connect a pool that is {:?}",
                self.state
            )));
        }
        let caps = self.message(
            MessageType::SESSION_CAPABILITY,
            Guid::NIL,
            encode_data(&SessionCapability::default().to_value()),
        );
        let connect = self.message(
            MessageType::CONNECT_RUNSPACEPOOL,
            Guid::NIL,
            b"<S />".to_vec(),
        );
        let mut out = Vec::new();
        for m in [caps, connect] {
            let id = self.next_object_id;
            self.next_object_id += 1;
            for f in fragment::split(id, &m, self.max_fragment) {
                f.encode_into(&mut out);
            }
        }
        self.state = RunspacePoolState::Connecting;
        Ok(out)
    }

    /// Marks a pipeline as stopping, after the caller sent the `powershell/signal/crtl_c`
    /// Signal; its PIPELINE_STATE (Stopped) still arrives on its Receive.
    pub fn stopping(&mut self, pid: Guid) -> Result<(), PoolError> {
        let p = self.running(pid)?;
        p.state = PipelineState::Stopping;
        Ok(())
    }

    /// Registers a pipeline that runs on the server but was started by another client (or
    /// before a disconnect), after a Connect with its CommandId: its messages are then
    /// accepted like those of a pipeline this client created.
    pub fn attach_pipeline(&mut self, pid: Guid) -> Result<(), PoolError> {
        if self
            .pipelines
            .get(&pid)
            .is_some_and(|p| !p.state.is_finished())
        {
            return Err(PoolError::State(format!("pipeline {pid} is already known")));
        }
        self.pipelines.insert(
            pid,
            ClientPipeline {
                state: PipelineState::Running,
                pending: HashSet::new(),
                no_input: true,
                input_ended: true,
            },
        );
        Ok(())
    }

    /// Marks the pool disconnected (after a successful Disconnect).
    pub fn disconnected(&mut self) {
        self.state = RunspacePoolState::Disconnected;
    }

    /// Marks a disconnected pool usable again (after a successful Reconnect by the same
    /// client; a different client uses [`ClientPool::connect`]).
    pub fn reconnected(&mut self) -> Result<(), PoolError> {
        if self.state != RunspacePoolState::Disconnected {
            return Err(PoolError::State(format!(
                "reconnect a pool that is {:?}",
                self.state
            )));
        }
        self.state = RunspacePoolState::Opened;
        Ok(())
    }

    /// Starts a pipeline `pid` (also its CommandId).
    pub fn create_pipeline(
        &mut self,
        pid: Guid,
        create: &CreatePipeline,
    ) -> Result<PipelineStart, PoolError> {
        if self.state != RunspacePoolState::Opened {
            return Err(PoolError::State(format!(
                "start a pipeline in a pool that is {:?}",
                self.state
            )));
        }
        if self
            .pipelines
            .get(&pid)
            .is_some_and(|p| !p.state.is_finished())
        {
            return Err(PoolError::State(format!(
                "pipeline {pid} is already running"
            )));
        }
        let protocol = self.server_protocol().unwrap_or((2, 3));
        let msg = self.message(
            MessageType::CREATE_PIPELINE,
            pid,
            encode_data(&create.to_value(protocol)),
        );
        let mut payloads = self.pack(vec![msg]);
        let arguments = payloads.remove(0);
        self.pipelines.insert(
            pid,
            ClientPipeline {
                state: PipelineState::Running,
                pending: HashSet::new(),
                no_input: create.no_input,
                input_ended: create.no_input,
            },
        );
        Ok(PipelineStart {
            arguments,
            rest: payloads,
        })
    }

    /// Starts a GET_COMMAND_METADATA "pipeline" `pid` (see
    /// [`messages::command_metadata_value`]); its results arrive like a pipeline's.
    pub fn command_metadata(
        &mut self,
        pid: Guid,
        names: &[&str],
        command_type: i32,
        namespaces: &[&str],
    ) -> Result<PipelineStart, PoolError> {
        if self.state != RunspacePoolState::Opened {
            return Err(PoolError::State(format!(
                "GET_COMMAND_METADATA in a pool that is {:?}",
                self.state
            )));
        }
        if self
            .pipelines
            .get(&pid)
            .is_some_and(|p| !p.state.is_finished())
        {
            return Err(PoolError::State(format!(
                "pipeline {pid} is already running"
            )));
        }
        let data = encode_data(&messages::command_metadata_value(
            names,
            command_type,
            namespaces,
        ));
        let msg = self.message(MessageType::GET_COMMAND_METADATA, pid, data);
        let mut payloads = self.pack(vec![msg]);
        let arguments = payloads.remove(0);
        self.pipelines.insert(
            pid,
            ClientPipeline {
                state: PipelineState::Running,
                pending: HashSet::new(),
                no_input: true,
                input_ended: true,
            },
        );
        Ok(PipelineStart {
            arguments,
            rest: payloads,
        })
    }

    fn running(&mut self, pid: Guid) -> Result<&mut ClientPipeline, PoolError> {
        let p = self
            .pipelines
            .get_mut(&pid)
            .ok_or(PoolError::UnknownPipeline(pid))?;
        if p.state.is_finished() {
            return Err(PoolError::State(format!("pipeline {pid} has finished")));
        }
        Ok(p)
    }

    /// PIPELINE_INPUT objects and, if `end`, END_OF_PIPELINE_INPUT, for a pipeline created
    /// with `no_input` false.
    pub fn send_input(
        &mut self,
        pid: Guid,
        values: &[Value],
        end: bool,
    ) -> Result<Outgoing, PoolError> {
        let p = self.running(pid)?;
        if p.no_input || p.input_ended {
            return Err(PoolError::State(format!(
                "pipeline {pid} takes no more input"
            )));
        }
        p.input_ended = end;
        let mut msgs: Vec<Vec<u8>> = values
            .iter()
            .map(|v| self.message(MessageType::PIPELINE_INPUT, pid, encode_data(v)))
            .collect();
        if end {
            msgs.push(self.message(MessageType::END_OF_PIPELINE_INPUT, pid, Vec::new()));
        }
        Ok(Outgoing {
            stream: InputStream::Stdin,
            pipeline: Some(pid),
            payloads: self.pack(msgs),
        })
    }

    /// Answers a host call (`pipeline` None for a pool host call). Only calls that asked
    /// for a reply and have not been answered can be answered.
    pub fn host_response(
        &mut self,
        pipeline: Option<Guid>,
        response: &HostResponse,
    ) -> Result<Outgoing, PoolError> {
        let pending = match pipeline {
            Some(pid) => &mut self.running(pid)?.pending,
            None => &mut self.pool_pending,
        };
        if !pending.remove(&response.call_id) {
            return Err(PoolError::State(format!(
                "no host call {} is waiting for an answer",
                response.call_id
            )));
        }
        let (t, pid) = match pipeline {
            Some(pid) => (MessageType::PIPELINE_HOST_RESPONSE, pid),
            None => (MessageType::RUNSPACEPOOL_HOST_RESPONSE, Guid::NIL),
        };
        let msg = self.message(t, pid, encode_data(&response.to_value()));
        Ok(Outgoing {
            stream: InputStream::Pr,
            pipeline,
            payloads: self.pack(vec![msg]),
        })
    }

    /// Sends PUBLIC_KEY for `key_pair` (once per pool). Make the pair with
    /// [`ClientKeyPair::generate`].
    pub fn start_key_exchange(&mut self, key_pair: ClientKeyPair) -> Result<Outgoing, PoolError> {
        if !matches!(self.key, KeyState::None) {
            return Err(PoolError::State(
                "the key exchange has already started".into(),
            ));
        }
        if self.state != RunspacePoolState::Opened {
            return Err(PoolError::State(format!(
                "key exchange in a pool that is {:?}",
                self.state
            )));
        }
        let data = encode_data(&key_blob_value("PublicKey", &key_pair.public_key_blob()));
        self.key = KeyState::Sent(Box::new(key_pair));
        let msg = self.message(MessageType::PUBLIC_KEY, Guid::NIL, data);
        Ok(Outgoing {
            stream: InputStream::Stdin,
            pipeline: None,
            payloads: self.pack(vec![msg]),
        })
    }

    /// A pool request (set sizes, get available runspaces, reset state) with a fresh call
    /// id; the answer is a [`ClientEvent::Availability`] with the same `ci`.
    pub fn pool_request(
        &mut self,
        make: impl FnOnce(i64) -> PoolRequest,
    ) -> Result<(i64, Outgoing), PoolError> {
        if self.state != RunspacePoolState::Opened {
            return Err(PoolError::State(format!(
                "pool request in a pool that is {:?}",
                self.state
            )));
        }
        let ci = self.next_ci;
        self.next_ci += 1;
        let req = make(ci);
        let msg = self.message(req.message_type(), Guid::NIL, encode_data(&req.to_value()));
        Ok((
            ci,
            Outgoing {
                stream: InputStream::Stdin,
                pipeline: None,
                payloads: self.pack(vec![msg]),
            },
        ))
    }

    /// Feeds one payload from a Receive (one `rsp:Stream`, or `connectResponseXml`).
    pub fn receive(&mut self, payload: &[u8]) -> Result<Vec<ClientEvent>, PoolError> {
        let mut events = Vec::new();
        for (_, bytes) in self.defrag.push_payload(payload)? {
            let msg = Message::decode(&bytes)?;
            if msg.destination != Destination::Client {
                return Err(PoolError::Unexpected(msg.message_type));
            }
            self.handle(msg, &mut events)?;
        }
        Ok(events)
    }

    fn handle(&mut self, msg: Message, events: &mut Vec<ClientEvent>) -> Result<(), PoolError> {
        let t = msg.message_type;
        let data = messages::decode(t, &msg.data).map_err(|error| PoolError::Data {
            message_type: t,
            error,
        })?;
        let pid = msg.pid;
        match data {
            Data::SessionCapability(c) => {
                if c.protocol() <= (2, 1) && self.max_envelope > 153_600 {
                    self.set_max_envelope_size(153_600);
                }
                self.server = Some(c.clone());
                events.push(ClientEvent::SessionCapability(c));
            }
            Data::ApplicationPrivateData(v) => {
                self.private_data = Some(v.clone());
                events.push(ClientEvent::PrivateData(v));
            }
            Data::PoolState(RunspacePoolStateInfo { state, error }) => {
                self.state = state;
                if matches!(state, RunspacePoolState::Broken | RunspacePoolState::Closed) {
                    for p in self.pipelines.values_mut() {
                        if !p.state.is_finished() {
                            p.state = PipelineState::Stopped;
                        }
                    }
                }
                events.push(ClientEvent::PoolState { state, error });
            }
            Data::RunspacePoolInitData(min, max) => {
                self.state = RunspacePoolState::Opened;
                events.push(ClientEvent::InitData { min, max });
            }
            Data::PublicKeyRequest => events.push(ClientEvent::PublicKeyRequested),
            Data::EncryptedSessionKey(blob) => {
                match std::mem::replace(&mut self.key, KeyState::None) {
                    KeyState::Sent(pair) => {
                        self.key = KeyState::Ready(pair.decrypt_session_key(&blob)?);
                        events.push(ClientEvent::SessionKeyReady);
                    }
                    other => {
                        self.key = other;
                        return Err(PoolError::State(
                            "ENCRYPTED_SESSION_KEY without a PUBLIC_KEY sent".into(),
                        ));
                    }
                }
            }
            Data::RunspaceAvailability(a) => events.push(ClientEvent::Availability(a)),
            Data::Object(v) if t == MessageType::USER_EVENT => {
                events.push(ClientEvent::UserEvent(v))
            }
            Data::HostCall(call) if t == MessageType::RUNSPACEPOOL_HOST_CALL => {
                if call.wants_reply() {
                    self.pool_pending.insert(call.call_id);
                }
                events.push(ClientEvent::HostCall {
                    pipeline: None,
                    call,
                });
            }
            Data::HostCall(call) => {
                let p = self.running(pid)?;
                if call.wants_reply() {
                    p.pending.insert(call.call_id);
                }
                events.push(ClientEvent::HostCall {
                    pipeline: Some(pid),
                    call,
                });
            }
            Data::Object(value) if t == MessageType::PIPELINE_OUTPUT => {
                self.running(pid)?;
                events.push(ClientEvent::Output {
                    pipeline: pid,
                    value,
                });
            }
            Data::Error(record) => {
                self.running(pid)?;
                events.push(ClientEvent::Error {
                    pipeline: pid,
                    record,
                });
            }
            Data::Informational(record) => {
                self.running(pid)?;
                events.push(ClientEvent::Informational {
                    pipeline: pid,
                    kind: t,
                    record,
                });
            }
            Data::Progress(record) => {
                self.running(pid)?;
                events.push(ClientEvent::Progress {
                    pipeline: pid,
                    record,
                });
            }
            Data::Information(record) => {
                self.running(pid)?;
                events.push(ClientEvent::Information {
                    pipeline: pid,
                    record,
                });
            }
            Data::PipelineState(PipelineStateInfo { state, error }) => {
                let p = self.running(pid)?;
                p.state = state;
                if state.is_finished() {
                    p.pending.clear();
                    events.push(ClientEvent::PipelineFinished {
                        pipeline: pid,
                        state,
                        error,
                    });
                } else {
                    events.push(ClientEvent::PipelineStateChanged {
                        pipeline: pid,
                        state,
                    });
                }
            }
            _ => return Err(PoolError::Unexpected(t)),
        }
        Ok(())
    }
}

/// Something the client said, for the server to act on.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerEvent {
    /// The client opened the pool (creationXml): answer with [`ServerPool::accept_open`].
    Open {
        /// The client's capability.
        capability: SessionCapability,
        /// The pool's settings and host.
        init: Box<InitRunspacePool>,
    },
    /// A client reattaches (connectXml): answer with [`ServerPool::accept_connect`].
    Connect {
        /// The client's capability.
        capability: SessionCapability,
    },
    /// A pipeline was created.
    PipelineCreated {
        /// Its id.
        pipeline: Guid,
        /// What to run.
        create: Box<CreatePipeline>,
    },
    /// One PIPELINE_INPUT object.
    Input {
        /// The pipeline.
        pipeline: Guid,
        /// The object.
        value: Value,
    },
    /// END_OF_PIPELINE_INPUT.
    EndOfInput {
        /// The pipeline.
        pipeline: Guid,
    },
    /// The answer to a host call.
    HostResponse {
        /// The pipeline, or None for a pool host call.
        pipeline: Option<Guid>,
        /// The answer.
        response: HostResponse,
    },
    /// PUBLIC_KEY: answer with [`ServerPool::send_session_key`].
    PublicKey(Vec<u8>),
    /// SET_MAX/MIN_RUNSPACES, GET_AVAILABLE_RUNSPACES, RESET_RUNSPACE_STATE.
    PoolRequest(PoolRequest),
    /// GET_COMMAND_METADATA for a pipeline.
    CommandMetadata {
        /// The pipeline.
        pipeline: Guid,
        /// The request object.
        request: Value,
    },
}

#[derive(Debug)]
struct ServerPipeline {
    pid: Guid,
    state: PipelineState,
    pending: HashSet<i64>,
    next_ci: i64,
}

/// The server end of a RunspacePool (what the simulator needs).
///
/// Outgoing messages come back as fragments, one per element of the returned `Vec`: Windows
/// puts each fragment in its own `rsp:Stream`. Pool messages go on the pool Receive, a
/// pipeline's on the Receive with its CommandId. Each fragment fits the client's
/// MaxEnvelopeSize ([`ServerPool::set_max_envelope_size`]); a Receive response may carry
/// several, as many as fit that size together, and leave the rest for the next Receive.
pub struct ServerPool {
    /// The RPID bytes as the client wrote them (echoed in every reply).
    rpid: Guid,
    state: RunspacePoolState,
    next_object_id: u64,
    max_fragment: usize,
    defrag: Defragmenter,
    pipelines: HashMap<Guid, ServerPipeline>,
    pool_pending: HashSet<i64>,
    next_pool_ci: i64,
    key: Option<SessionKey>,
    /// A SESSION_CAPABILITY waiting for its INIT_RUNSPACEPOOL or CONNECT_RUNSPACEPOOL.
    capability: Option<SessionCapability>,
    client: Option<SessionCapability>,
}

impl std::fmt::Debug for ServerPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerPool")
            .field("rpid", &self.rpid)
            .field("state", &self.state)
            .field("pipelines", &self.pipelines.len())
            .finish()
    }
}

impl Default for ServerPool {
    fn default() -> Self {
        ServerPool::new()
    }
}

impl ServerPool {
    /// A pool waiting for its creationXml.
    pub fn new() -> ServerPool {
        ServerPool {
            rpid: Guid::NIL,
            state: RunspacePoolState::BeforeOpen,
            next_object_id: 1,
            max_fragment: fragment_room(153_600),
            defrag: Defragmenter::new(DefragLimits::default()),
            pipelines: HashMap::new(),
            pool_pending: HashSet::new(),
            next_pool_ci: 1,
            key: None,
            capability: None,
            client: None,
        }
    }

    /// The pool's state.
    pub fn state(&self) -> RunspacePoolState {
        self.state
    }

    /// The session key, once sent.
    pub fn session_key(&self) -> Option<&SessionKey> {
        self.key.as_ref()
    }

    /// Sizes replies for a client that sent this MaxEnvelopeSize.
    pub fn set_max_envelope_size(&mut self, max_envelope_size: u32) {
        self.max_fragment = fragment_room(max_envelope_size);
    }

    /// A pipeline's state.
    pub fn pipeline_state(&self, pid: Guid) -> Option<PipelineState> {
        self.pipelines.get(&pid).map(|p| p.state)
    }

    /// True if the pipeline waits for a host call answer (Receive reports `Pending`).
    pub fn is_pending(&self, pid: Guid) -> bool {
        self.pipelines
            .get(&pid)
            .is_some_and(|p| !p.pending.is_empty())
    }

    /// Feeds a payload from the client (creationXml, connectXml, Command arguments, or a Send
    /// on `stdin`/`pr`).
    pub fn receive(&mut self, payload: &[u8]) -> Result<Vec<ServerEvent>, PoolError> {
        let mut events = Vec::new();
        for (_, bytes) in self.defrag.push_payload(payload)? {
            let msg = Message::decode(&bytes)?;
            if msg.destination != Destination::Server {
                return Err(PoolError::Unexpected(msg.message_type));
            }
            let t = msg.message_type;
            let data = messages::decode(t, &msg.data).map_err(|error| PoolError::Data {
                message_type: t,
                error,
            })?;
            let pid = msg.pid;
            match data {
                Data::SessionCapability(c) => {
                    self.rpid = msg.rpid;
                    self.capability = Some(c);
                }
                Data::InitRunspacePool(init) => {
                    if self.state != RunspacePoolState::BeforeOpen {
                        return Err(PoolError::State("INIT_RUNSPACEPOOL twice".into()));
                    }
                    let capability = self.capability.take().ok_or_else(|| {
                        PoolError::State("INIT_RUNSPACEPOOL without SESSION_CAPABILITY".into())
                    })?;
                    self.rpid = msg.rpid;
                    self.client = Some(capability.clone());
                    self.state = RunspacePoolState::Opening;
                    events.push(ServerEvent::Open {
                        capability,
                        init: Box::new(init),
                    });
                }
                Data::ConnectRunspacePool(_) => {
                    let capability = self.capability.take().ok_or_else(|| {
                        PoolError::State("CONNECT_RUNSPACEPOOL without SESSION_CAPABILITY".into())
                    })?;
                    self.rpid = msg.rpid;
                    self.client = Some(capability.clone());
                    events.push(ServerEvent::Connect { capability });
                }
                Data::CreatePipeline(create) => {
                    if self.state != RunspacePoolState::Opened {
                        return Err(PoolError::State(format!(
                            "CREATE_PIPELINE in a pool that is {:?}",
                            self.state
                        )));
                    }
                    if self
                        .pipelines
                        .get(&pid)
                        .is_some_and(|p| !p.state.is_finished())
                    {
                        return Err(PoolError::State(format!("pipeline {pid} already runs")));
                    }
                    self.pipelines.insert(
                        pid,
                        ServerPipeline {
                            pid,
                            state: PipelineState::Running,
                            pending: HashSet::new(),
                            next_ci: 1,
                        },
                    );
                    events.push(ServerEvent::PipelineCreated {
                        pipeline: pid,
                        create,
                    });
                }
                Data::Object(request) if t == MessageType::GET_COMMAND_METADATA => {
                    self.pipelines.insert(
                        pid,
                        ServerPipeline {
                            pid,
                            state: PipelineState::Running,
                            pending: HashSet::new(),
                            next_ci: 1,
                        },
                    );
                    events.push(ServerEvent::CommandMetadata {
                        pipeline: pid,
                        request,
                    });
                }
                Data::Object(value) if t == MessageType::PIPELINE_INPUT => {
                    self.running(pid)?;
                    events.push(ServerEvent::Input {
                        pipeline: pid,
                        value,
                    });
                }
                Data::EndOfInput => {
                    self.running(pid)?;
                    events.push(ServerEvent::EndOfInput { pipeline: pid });
                }
                Data::HostResponse(response) => {
                    let (pending, pipeline) = if t == MessageType::PIPELINE_HOST_RESPONSE {
                        (&mut self.running(pid)?.pending, Some(pid))
                    } else {
                        (&mut self.pool_pending, None)
                    };
                    if !pending.remove(&response.call_id) {
                        return Err(PoolError::State(format!(
                            "answer to host call {} that is not waiting",
                            response.call_id
                        )));
                    }
                    events.push(ServerEvent::HostResponse { pipeline, response });
                }
                Data::PublicKey(blob) => events.push(ServerEvent::PublicKey(blob)),
                Data::PoolRequest(r) => events.push(ServerEvent::PoolRequest(r)),
                _ => return Err(PoolError::Unexpected(t)),
            }
        }
        Ok(events)
    }

    fn running(&mut self, pid: Guid) -> Result<&mut ServerPipeline, PoolError> {
        let p = self
            .pipelines
            .get_mut(&pid)
            .ok_or(PoolError::UnknownPipeline(pid))?;
        if p.state.is_finished() {
            return Err(PoolError::State(format!("pipeline {pid} has finished")));
        }
        Ok(p)
    }

    fn fragments(&mut self, t: MessageType, rpid: Guid, pid: Guid, v: &Value) -> Vec<Vec<u8>> {
        let msg = Message::new(Destination::Client, t, rpid, pid, encode_data(v)).encode();
        let id = self.next_object_id;
        self.next_object_id += 1;
        fragment::split(id, &msg, self.max_fragment)
            .iter()
            .map(|f| f.encode())
            .collect()
    }

    /// The answer to [`ServerEvent::Open`]: SESSION_CAPABILITY (RPID zero, as Windows sends
    /// it), APPLICATION_PRIVATE_DATA with `private_data` (a PSPrimitiveDictionary holding
    /// PSVersionTable), RUNSPACEPOOL_STATE Opened. Fragments for the pool Receive.
    pub fn accept_open(&mut self, private_data: Value) -> Result<Vec<Vec<u8>>, PoolError> {
        if self.state != RunspacePoolState::Opening {
            return Err(PoolError::State(format!(
                "accept a pool that is {:?}",
                self.state
            )));
        }
        let mut out = self.fragments(
            MessageType::SESSION_CAPABILITY,
            Guid::NIL,
            Guid::NIL,
            &SessionCapability::default().to_value(),
        );
        let pd = crate::clixml::Object::new()
            .with_ms("ApplicationPrivateData", private_data)
            .into_value();
        out.extend(self.fragments(
            MessageType::APPLICATION_PRIVATE_DATA,
            self.rpid,
            Guid::NIL,
            &pd,
        ));
        self.state = RunspacePoolState::Opened;
        let st = RunspacePoolStateInfo {
            state: RunspacePoolState::Opened,
            error: None,
        };
        out.extend(self.fragments(
            MessageType::RUNSPACEPOOL_STATE,
            self.rpid,
            Guid::NIL,
            &st.to_value(),
        ));
        Ok(out)
    }

    /// The `connectResponseXml` for [`ServerEvent::Connect`]: SESSION_CAPABILITY and
    /// RUNSPACEPOOL_INIT_DATA (min, max).
    pub fn accept_connect(&mut self, min: i32, max: i32) -> Vec<u8> {
        let mut out: Vec<u8> = self
            .fragments(
                MessageType::SESSION_CAPABILITY,
                self.rpid,
                Guid::NIL,
                &SessionCapability::default().to_value(),
            )
            .concat();
        let init = crate::clixml::Object::new()
            .with_ms("MinRunspaces", Value::I32(min))
            .with_ms("MaxRunspaces", Value::I32(max))
            .into_value();
        out.extend(
            self.fragments(
                MessageType::RUNSPACEPOOL_INIT_DATA,
                self.rpid,
                Guid::NIL,
                &init,
            )
            .concat(),
        );
        self.state = RunspacePoolState::Opened;
        out
    }

    /// APPLICATION_PRIVATE_DATA again, for the pool Receive after a Connect: Windows sent it
    /// with a new ObjectId on the first pool Receive after a Connect in
    /// `test_psrp_disconnected_commands` (pairs 14 and 19), as psrpcore's server does.
    pub fn private_data_message(&mut self, private_data: Value) -> Vec<Vec<u8>> {
        let pd = crate::clixml::Object::new()
            .with_ms("ApplicationPrivateData", private_data)
            .into_value();
        self.fragments(
            MessageType::APPLICATION_PRIVATE_DATA,
            self.rpid,
            Guid::NIL,
            &pd,
        )
    }

    /// RUNSPACEPOOL_STATE with the pool's current state, for the pool Receive. Windows sent
    /// it (Opened, with its old ObjectId) on the first pool Receive after a Connect in
    /// `test_psrp_disconnect_runspaces` (pairs 15 and 17).
    pub fn state_message(&mut self) -> Vec<Vec<u8>> {
        let v = RunspacePoolStateInfo {
            state: self.state,
            error: None,
        }
        .to_value();
        self.fragments(MessageType::RUNSPACEPOOL_STATE, self.rpid, Guid::NIL, &v)
    }

    /// ENCRYPTED_SESSION_KEY for the client's PUBLIC_KEY blob: makes the session key.
    pub fn send_session_key(
        &mut self,
        public_key_blob: &[u8],
        rng: &mut impl CryptoRngCore,
    ) -> Result<Vec<Vec<u8>>, PoolError> {
        let key = SessionKey::generate(rng);
        let blob = key.encrypt_for(public_key_blob, rng)?;
        self.key = Some(key);
        Ok(self.fragments(
            MessageType::ENCRYPTED_SESSION_KEY,
            Guid::NIL,
            Guid::NIL,
            &key_blob_value("EncryptedSessionKey", &blob),
        ))
    }

    /// PUBLIC_KEY_REQUEST: ask the client for its public key.
    pub fn request_public_key(&mut self) -> Vec<Vec<u8>> {
        self.fragments(
            MessageType::PUBLIC_KEY_REQUEST,
            self.rpid,
            Guid::NIL,
            &Value::String(String::new()),
        )
    }

    /// Stops a pipeline (after a `powershell/signal/crtl_c` Signal): PIPELINE_STATE Stopped
    /// with the error PowerShell reports for it.
    pub fn stop(&mut self, pid: Guid) -> Result<Vec<Vec<u8>>, PoolError> {
        let err = ErrorRecord {
            message: "The pipeline has been stopped.".into(),
            exception_type: Some("System.Management.Automation.PipelineStoppedException".into()),
            fully_qualified_error_id: "PipelineStopped".into(),
            category: 14,
            reason: Some("PipelineStoppedException".into()),
            ..ErrorRecord::default()
        };
        self.finish(pid, PipelineState::Stopped, Some(err))
    }

    /// RUNSPACE_AVAILABILITY for a pool request.
    pub fn availability(&mut self, ci: i64, response: Value) -> Vec<Vec<u8>> {
        let v = RunspaceAvailability { response, ci }.to_value();
        self.fragments(MessageType::RUNSPACE_AVAILABILITY, self.rpid, Guid::NIL, &v)
    }

    /// A pipeline message (output, records). `t` must be a pipeline-scoped server message.
    pub fn pipeline_message(
        &mut self,
        pid: Guid,
        t: MessageType,
        v: &Value,
    ) -> Result<Vec<Vec<u8>>, PoolError> {
        use MessageType as M;
        if !matches!(
            t,
            M::PIPELINE_OUTPUT
                | M::ERROR_RECORD
                | M::DEBUG_RECORD
                | M::VERBOSE_RECORD
                | M::WARNING_RECORD
                | M::PROGRESS_RECORD
                | M::INFORMATION_RECORD
        ) {
            return Err(PoolError::Unexpected(t));
        }
        let rpid = self.rpid;
        let pid = self.running(pid)?.pid;
        Ok(self.fragments(t, rpid, pid, v))
    }

    /// A host call to a pipeline's host (`pipeline` Some) or the pool's. Void calls get
    /// `ci` -100; others the next call id, and the pipeline is Pending until answered.
    pub fn host_call(
        &mut self,
        pipeline: Option<Guid>,
        method: HostMethodId,
        params: Vec<Value>,
        void: bool,
    ) -> Result<(i64, Vec<Vec<u8>>), PoolError> {
        let rpid = self.rpid;
        let (ci, t, pid) = match pipeline {
            Some(pid) => {
                let p = self.running(pid)?;
                let ci = if void { VOID_CALL_ID } else { p.next_ci };
                if !void {
                    p.next_ci += 1;
                    p.pending.insert(ci);
                }
                (ci, MessageType::PIPELINE_HOST_CALL, p.pid)
            }
            None => {
                let ci = if void {
                    VOID_CALL_ID
                } else {
                    self.next_pool_ci
                };
                if !void {
                    self.next_pool_ci += 1;
                    self.pool_pending.insert(ci);
                }
                (ci, MessageType::RUNSPACEPOOL_HOST_CALL, Guid::NIL)
            }
        };
        let call = HostCall {
            call_id: ci,
            method,
            params,
        };
        Ok((ci, self.fragments(t, rpid, pid, &call.to_value())))
    }

    /// PIPELINE_STATE: the pipeline's last message.
    pub fn finish(
        &mut self,
        pid: Guid,
        state: PipelineState,
        error: Option<ErrorRecord>,
    ) -> Result<Vec<Vec<u8>>, PoolError> {
        if !state.is_finished() {
            return Err(PoolError::State(format!("finish a pipeline as {state:?}")));
        }
        let rpid = self.rpid;
        let p = self.running(pid)?;
        p.state = state;
        p.pending.clear();
        let pid = p.pid;
        let v = PipelineStateInfo { state, error }.to_value();
        Ok(self.fragments(MessageType::PIPELINE_STATE, rpid, pid, &v))
    }

    /// RUNSPACEPOOL_STATE Closed or Broken (with the reason).
    pub fn close(&mut self, state: RunspacePoolState, error: Option<ErrorRecord>) -> Vec<Vec<u8>> {
        self.state = state;
        let v = RunspacePoolStateInfo { state, error }.to_value();
        self.fragments(MessageType::RUNSPACEPOOL_STATE, self.rpid, Guid::NIL, &v)
    }
}

// Pools live in async tasks of the client and the simulator.
const _: fn() = || {
    fn send<T: Send>() {}
    send::<ClientPool>();
    send::<ServerPool>();
    send::<ClientEvent>();
    send::<ServerEvent>();
};
