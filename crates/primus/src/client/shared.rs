//! State shared between the [`Client`](super::Client) handle and its driver task: the
//! outgoing queue, requests (open/end/destroy), id waiters, transforms and events.
//!
//! Locks are plain `std::sync::Mutex`es held for a few instructions, never across an await.

use super::{ClientError, ClientEvent, ReadyState};
use primus_core::parser::SharedParser;
use primus_core::{protocol, to_value, Frame, Value};
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::task::{Context, Poll, Waker};
use tokio::sync::{broadcast, oneshot, watch, Notify};

/// A message transform: may change the value; returning `false` drops the message.
pub(crate) type Transform = Arc<dyn Fn(&mut Value) -> bool + Send + Sync>;

/// Most `id()` calls that may wait at once.
const MAX_ID_WAITERS: usize = 1024;
/// Most distinct tasks parked on the sink at once before we fall back to waking them all.
const MAX_WAKERS: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    End,
    Destroy,
}

#[derive(Default)]
struct State {
    outbox: VecDeque<Frame>,
    open_requested: bool,
    stop: Option<Stop>,
    finished: bool,
    wakers: Vec<Waker>,
    id_waiters: Vec<oneshot::Sender<String>>,
}

pub(crate) struct Shared {
    state: Mutex<State>,
    queue_size: usize,
    dropped: AtomicU64,
    ready: AtomicU8,
    /// Wakes the driver: frames queued or a request made.
    pub(crate) wake: Notify,
    finished: watch::Sender<bool>,
    pub(crate) events: broadcast::Sender<ClientEvent>,
    pub(crate) parser: SharedParser,
    incoming: RwLock<Vec<Transform>>,
    outgoing: RwLock<Vec<Transform>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("ready_state", &self.ready_state())
            .field("queued", &self.queued())
            .field("parser", &self.parser.name())
            .finish_non_exhaustive()
    }
}

impl Shared {
    pub(crate) fn new(
        queue_size: usize,
        parser: SharedParser,
        events: broadcast::Sender<ClientEvent>,
    ) -> Self {
        Shared {
            state: Mutex::new(State::default()),
            queue_size,
            dropped: AtomicU64::new(0),
            ready: AtomicU8::new(ReadyState::Closed as u8),
            wake: Notify::new(),
            finished: watch::channel(false).0,
            events,
            parser,
            incoming: RwLock::new(Vec::new()),
            outgoing: RwLock::new(Vec::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the state half-updated in a way that
        // matters (every update is a single push/pop/flag), so keep going.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn emit(&self, event: ClientEvent) {
        // No subscriber is fine: events are optional, as in the reference.
        let _ = self.events.send(event);
    }

    pub(crate) fn ready_state(&self) -> ReadyState {
        ReadyState::from_u8(self.ready.load(Ordering::Acquire))
    }

    /// Set the state and emit `readyStateChange` when it changed.
    pub(crate) fn set_ready_state(&self, state: ReadyState) {
        let old = self.ready.swap(state as u8, Ordering::AcqRel);
        if old != state as u8 {
            self.emit(ClientEvent::ReadyStateChange(state));
            self.wake_all();
        }
    }

    // ---- outgoing ----

    /// Run the outgoing transforms and encode. `Ok(None)`: a transform dropped it.
    pub(crate) fn encode_user<T: Serialize + ?Sized>(
        &self,
        data: &T,
    ) -> Result<Option<Frame>, ClientError> {
        let transforms = self
            .outgoing
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if transforms.is_empty() {
            // Hot path: no transforms, encode straight from the caller's value.
            return Ok(Some(self.parser.encode(&data)?));
        }
        let mut value = to_value(data).map_err(|e| ClientError::Encode(e.to_string()))?;
        for t in &transforms {
            if !t(&mut value) {
                return Ok(None);
            }
        }
        Ok(Some(self.parser.encode(&value)?))
    }

    /// Encode a protocol message (through the parser, skipping the transforms).
    pub(crate) fn encode_protocol(&self, message: &str) -> Result<Frame, ClientError> {
        Ok(self.parser.encode(&message)?)
    }

    /// Queue a frame; drops the oldest when the queue is full.
    /// A user write: transforms, parser, then the queue.
    pub(crate) fn write<T: serde::Serialize + ?Sized>(&self, data: &T) -> Result<(), ClientError> {
        if self.is_finished() {
            return Err(ClientError::Closed);
        }
        match self.encode_user(data)? {
            Some(frame) => self.push(frame),
            None => Ok(()),
        }
    }

    pub(crate) fn push(&self, frame: Frame) -> Result<(), ClientError> {
        {
            let mut state = self.lock();
            if state.finished {
                return Err(ClientError::Closed);
            }
            if state.outbox.len() >= self.queue_size {
                state.outbox.pop_front();
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
            state.outbox.push_back(frame);
        }
        self.wake.notify_one();
        Ok(())
    }

    /// Take up to `max` frames for sending, and wake anyone waiting for room.
    pub(crate) fn take_frames(&self, max: usize) -> Vec<Frame> {
        let frames: Vec<Frame> = {
            let mut state = self.lock();
            let n = state.outbox.len().min(max);
            state.outbox.drain(..n).collect()
        };
        if !frames.is_empty() {
            self.wake_all();
        }
        frames
    }

    /// Put frames back at the front (a send failed before they left).
    pub(crate) fn requeue_front(&self, frames: Vec<Frame>) {
        let mut state = self.lock();
        for frame in frames.into_iter().rev() {
            if state.outbox.len() >= self.queue_size {
                // The newest message wins, as with `push`.
                self.dropped.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            state.outbox.push_front(frame);
        }
    }

    pub(crate) fn queued(&self) -> usize {
        self.lock().outbox.len()
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Sink readiness: room in the queue (or an error once finished).
    pub(crate) fn poll_room(&self, cx: &mut Context<'_>) -> Poll<Result<(), ClientError>> {
        let mut state = self.lock();
        if state.finished {
            return Poll::Ready(Err(ClientError::Closed));
        }
        if state.outbox.len() < self.queue_size {
            return Poll::Ready(Ok(()));
        }
        Self::park(&mut state, cx);
        Poll::Pending
    }

    /// Sink flush: everything queued has been handed to the transport.
    pub(crate) fn poll_flushed(&self, cx: &mut Context<'_>) -> Poll<Result<(), ClientError>> {
        let mut state = self.lock();
        if state.outbox.is_empty() {
            return Poll::Ready(Ok(()));
        }
        if state.finished {
            return Poll::Ready(Err(ClientError::Closed));
        }
        Self::park(&mut state, cx);
        Poll::Pending
    }

    /// Sink close: the driver has finished.
    pub(crate) fn poll_finished(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.lock();
        if state.finished {
            return Poll::Ready(());
        }
        Self::park(&mut state, cx);
        Poll::Pending
    }

    fn park(state: &mut State, cx: &mut Context<'_>) {
        if state.wakers.iter().any(|w| w.will_wake(cx.waker())) {
            return;
        }
        if state.wakers.len() >= MAX_WAKERS {
            for w in state.wakers.drain(..) {
                w.wake();
            }
        }
        state.wakers.push(cx.waker().clone());
    }

    fn wake_all(&self) {
        let wakers = std::mem::take(&mut self.lock().wakers);
        for w in wakers {
            w.wake();
        }
    }

    // ---- requests ----

    /// Ask for the first connection (manual mode). False when already finished.
    pub(crate) fn request_open(&self) -> bool {
        let ok = {
            let mut state = self.lock();
            state.open_requested = true;
            !state.finished
        };
        self.wake.notify_one();
        ok
    }

    pub(crate) fn take_open_request(&self) -> bool {
        std::mem::take(&mut self.lock().open_requested)
    }

    pub(crate) fn request_stop(&self, stop: Stop) {
        {
            let mut state = self.lock();
            // Destroy wins over end.
            if state.stop != Some(Stop::Destroy) {
                state.stop = Some(stop);
            }
        }
        self.wake.notify_one();
    }

    pub(crate) fn stop_requested(&self) -> Option<Stop> {
        self.lock().stop
    }

    // ---- id ----

    pub(crate) fn add_id_waiter(&self) -> Result<oneshot::Receiver<String>, ClientError> {
        let mut state = self.lock();
        if state.finished {
            return Err(ClientError::Closed);
        }
        state.id_waiters.retain(|w| !w.is_closed());
        if state.id_waiters.len() >= MAX_ID_WAITERS {
            return Err(ClientError::InvalidOptions(format!(
                "more than {MAX_ID_WAITERS} id() calls waiting"
            )));
        }
        let (tx, rx) = oneshot::channel();
        state.id_waiters.push(tx);
        Ok(rx)
    }

    /// An id answer arrived: it answers every waiting `id()` call.
    pub(crate) fn resolve_id(&self, id: &str) {
        let waiters = std::mem::take(&mut self.lock().id_waiters);
        for w in waiters {
            let _ = w.send(id.to_string());
        }
    }

    /// After a lost connection, ask the next one for its id if someone is still waiting
    /// (the question went to a connection that will never answer).
    pub(crate) fn reask_id_if_waiting(&self) {
        let waiting = {
            let mut state = self.lock();
            state.id_waiters.retain(|w| !w.is_closed());
            !state.id_waiters.is_empty()
        };
        if waiting {
            if let Ok(frame) = self.encode_protocol(protocol::ID_REQUEST) {
                let _ = self.push(frame);
            }
        }
    }

    // ---- transforms ----

    pub(crate) fn add_transform(&self, incoming: bool, t: Transform) {
        let list = if incoming {
            &self.incoming
        } else {
            &self.outgoing
        };
        list.write().unwrap_or_else(|p| p.into_inner()).push(t);
    }

    /// Run the incoming transforms; `None` when one dropped the message.
    pub(crate) fn transform_incoming(&self, mut value: Value) -> Option<Value> {
        let transforms = self.incoming.read().unwrap_or_else(|p| p.into_inner());
        for t in transforms.iter() {
            if !t(&mut value) {
                return None;
            }
        }
        Some(value)
    }

    // ---- end of life ----

    /// The driver is done: fail pending `id()` calls, wake the sink, signal `closed()`.
    pub(crate) fn finish(&self) {
        {
            let mut state = self.lock();
            state.finished = true;
            state.id_waiters.clear();
        }
        self.wake_all();
        self.finished.send_replace(true);
    }

    pub(crate) fn is_finished(&self) -> bool {
        *self.finished.borrow()
    }

    pub(crate) fn subscribe_finished(&self) -> watch::Receiver<bool> {
        self.finished.subscribe()
    }
}
