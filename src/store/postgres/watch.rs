//! How an instance learns that another changed the registry: `LISTEN`/`NOTIFY`, with the
//! polled generation as the fallback.
//!
//! Every registry change notifies [`CHANNEL`] with its new generation (registry.rs). A task
//! on the store's runtime holds a connection of its own that listens, and keeps the highest
//! generation it heard. While it listens, `generation()` answers from memory, and reads the
//! row anyway once its last reading is [`REFRESH`] old; while it does not (not yet connected,
//! or reconnecting, when notifications are lost), every `generation()` reads the row. A
//! service polling `generation()` every 250 ms therefore sees a change by notification within
//! milliseconds, and without one within its next poll: under 2 s either way.

use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_postgres::{AsyncMessage, NoTls};

/// The notification channel of registry changes.
pub(super) const CHANNEL: &str = "canon_registry";
/// The oldest a generation answered from memory may be.
const REFRESH: Duration = Duration::from_secs(1);
/// The wait before the listener connects again.
const RECONNECT: Duration = Duration::from_secs(1);

#[derive(Default)]
pub(super) struct Watch {
    /// The highest generation heard or read.
    generation: AtomicI64,
    listening: AtomicBool,
    /// When the row was last read.
    read: Mutex<Option<Instant>>,
}

impl Watch {
    /// The generation, if memory can answer: listening, and read from the row recently.
    pub(super) fn fresh(&self) -> Option<i64> {
        if !self.listening() {
            return None;
        }
        let read = *self.read.lock().unwrap_or_else(|p| p.into_inner());
        read.filter(|at| at.elapsed() < REFRESH)
            .map(|_| self.generation.load(Ordering::Acquire))
    }

    /// The generation read from the row.
    pub(super) fn polled(&self, generation: i64) {
        self.saw(generation);
        *self.read.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
    }

    /// A generation this instance wrote or heard of.
    pub(super) fn saw(&self, generation: i64) {
        self.generation.fetch_max(generation, Ordering::AcqRel);
    }

    pub(super) fn listening(&self) -> bool {
        self.listening.load(Ordering::Acquire)
    }
}

/// Listens for changes on the store's runtime until the store is dropped (its runtime
/// with it).
pub(super) fn spawn_listener(
    runtime: &tokio::runtime::Runtime,
    config: tokio_postgres::Config,
    watch: Arc<Watch>,
) {
    runtime.spawn(async move {
        loop {
            if let Err(error) = listen(&config, &watch).await {
                tracing::warn!(%error, "registry notifications lost; reconnecting (polling meanwhile)");
            }
            watch.listening.store(false, Ordering::Release);
            tokio::time::sleep(RECONNECT).await;
        }
    });
}

async fn listen(
    config: &tokio_postgres::Config,
    watch: &Watch,
) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = config.connect(NoTls).await?;
    let (heard, mut notifications) = tokio::sync::mpsc::unbounded_channel();
    // The connection is driven here, where its notifications come out.
    let driver = tokio::spawn(async move {
        while let Some(message) = poll_fn(|cx| connection.poll_message(cx)).await {
            match message {
                Ok(AsyncMessage::Notification(note)) => {
                    let _ = heard.send(Ok(note.payload().to_string()));
                }
                Ok(_) => {}
                Err(error) => {
                    let _ = heard.send(Err(error));
                    return;
                }
            }
        }
    });
    client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
    // Changes made before LISTEN took effect are read from the row.
    let row = client
        .query_one("SELECT generation FROM registry_generation", &[])
        .await?;
    watch.polled(row.try_get(0)?);
    watch.listening.store(true, Ordering::Release);
    let outcome = loop {
        match notifications.recv().await {
            Some(Ok(payload)) => {
                if let Ok(generation) = payload.parse() {
                    watch.saw(generation);
                }
            }
            Some(Err(error)) => break Err(error),
            // The connection ended without an error (the server closed it).
            None => break Ok(()),
        }
    };
    driver.abort();
    outcome
}
