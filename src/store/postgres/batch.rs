//! Creates of one instance committed together, as SQLite's writer commits its batches.
//!
//! A PostgreSQL `COMMIT` waits for the WAL flush, so with every create in a transaction of
//! its own, 16 clients made about half of SQLite's creates, whose writer puts ~8–11 writes
//! in a commit (benches/README.md). Here the creates that need no count (a profile the
//! rules settled without asking who reports to the user) are queued to one task on the
//! store's runtime. It takes every create queued and sends them as one transaction in one
//! round trip: `BEGIN`; the tenants' graphs locked shared; every key the creates have or
//! name locked, in one statement, in the order every write takes its keys (org.rs); one
//! statement that writes them all; `COMMIT`. Each create is answered after that `COMMIT`
//! returns: an acknowledged write is durable, as before. Creates queued meanwhile make the
//! next batch. (Two such tasks, one batch collecting while the other commits, were
//! measured slower: their commits waited on each other's WAL flush.)
//!
//! The statement that writes them ([`WRITE_CREATES`]) decides each create on its own, so
//! none fails another: one whose `userName` is taken (by a committed user, or by a create
//! before it in the batch) is skipped (`ON CONFLICT DO NOTHING`, which waits for an
//! uncommitted holder as a failing insert would) and answered with a conflict; one its
//! guard refuses (the tenant's index is not made under the create's rules, or a manager it
//! names has a profile that reads its count) is skipped and sent down the general path,
//! which counts. A savepoint per create would need a statement each and a second round
//! trip to roll back to it; statements per create were measured (4 a create, run one after
//! another by one backend): slower than the separate transactions they replaced. A
//! deadlock (PostgreSQL failing the batch for another transaction's sake) sends the batch
//! again, [`ATTEMPTS`] times at most; any other failure fails every create of the batch.

use deadpool_postgres::Pool;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio_postgres::Row;

use super::super::org::OrgPlace;
use super::super::{StoreError, TenantId};
use super::org::key_locks;
use super::pipeline::{Param, Queue};
use super::{db_error_of, retryable, ATTEMPTS};

/// A batch holds this many creates at most.
const MAX_WRITES: usize = 64;

/// A create, all it writes computed by the caller (mapped, encoded).
pub(super) struct Create {
    pub(super) tenant: TenantId,
    /// The rules' signature: the index must be made under it ([`WRITE_CREATES`]).
    pub(super) signature: String,
    pub(super) id: String,
    pub(super) stamp: String,
    pub(super) place: OrgPlace,
    pub(super) unique_key: Option<String>,
    pub(super) body: String,
    pub(super) profile: Option<String>,
    /// The resource's index keys (keys.rs), as attributes and values.
    pub(super) keys: (Vec<&'static str>, Vec<String>),
}

/// How a batched create ended.
#[derive(Debug)]
pub(super) enum Outcome {
    /// Committed.
    Written,
    /// Not written: its guard refused it, and the general path must write it; `counted`
    /// where a manager it names has a profile that reads its count.
    Declined {
        counted: bool,
    },
    Failed(StoreError),
}

pub(super) struct Job {
    create: Create,
    reply: Box<dyn FnOnce(Outcome) + Send + Sync>,
}

impl Job {
    /// A job whose outcome `reply` is given (on the store's runtime: it must not block).
    pub(super) fn replying(
        create: Create,
        reply: impl FnOnce(Outcome) + Send + Sync + 'static,
    ) -> Job {
        Job {
            create,
            reply: Box::new(reply),
        }
    }

    /// A job whose outcome arrives on the returned receiver.
    #[cfg(test)]
    pub(super) fn new(create: Create) -> (Job, std::sync::mpsc::Receiver<Outcome>) {
        let (reply, answer) = std::sync::mpsc::channel();
        // The caller may be gone (its request was dropped): nothing to tell.
        let job = Job::replying(create, move |outcome| {
            let _ = reply.send(outcome);
        });
        (job, answer)
    }

    fn answer(self, outcome: Outcome) {
        (self.reply)(outcome);
    }
}

/// The queue of creates the lanes take from.
pub(super) struct Batcher {
    queue: UnboundedSender<Job>,
}

impl Batcher {
    /// Starts the committing task on `runtime`; it stops when the batcher is dropped.
    pub(super) fn start(runtime: &tokio::runtime::Runtime, pool: &Pool) -> Batcher {
        let (queue, jobs) = unbounded_channel();
        runtime.spawn(run(pool.clone(), jobs));
        Batcher { queue }
    }

    /// Queues `job` without waiting; a closed store answers it at once.
    pub(super) fn submit(&self, job: Job) {
        if let Err(refused) = self.queue.send(job) {
            refused.0.answer(Outcome::Failed(StoreError::Backend(
                "the store is closed".into(),
            )));
        }
    }
}

/// The committing task: takes every create queued (waiting for the first), commits them,
/// again, until the batcher is dropped.
async fn run(pool: Pool, mut jobs: UnboundedReceiver<Job>) {
    while let Some(first) = jobs.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_WRITES {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        commit(&pool, batch).await;
    }
}

/// What [`WRITE_CREATES`] answers for a create it did not write.
const TAKEN: &str = "taken";
const INDEX_NOT_CURRENT: &str = "index";
const MANAGER_READS_COUNT: &str = "manager";

/// Writes a batch of creates (`$1`–`$9`: one element each; `$10`–`$12` the keys their
/// managers are named by, `$13`–`$15` their index keys, `$16`–`$19` their rows in the
/// organisation index, each element naming its create's id) and answers, for each create
/// by id, why it was not written (`NULL`: written). All of it reads one snapshot, taken
/// after the batch's locks: the guard reads what `write_prepared` would under them.
const WRITE_CREATES: &str = "WITH c AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
        $6::text[], $7::text[], $8::bool[], $9::text[]) WITH ORDINALITY
        AS c(tenant, id, unique_key, body, stamp, profile, signature, counts, display, n)
), refused AS (
    SELECT c.id, CASE
        WHEN (SELECT s.signature FROM org_state AS s WHERE s.tenant = c.tenant)
            IS DISTINCT FROM c.signature THEN 'index'
        WHEN c.counts AND EXISTS (
            SELECT 1 FROM unnest($10::text[], $11::int4[], $12::text[]) AS m(id, link, value)
            JOIN org_refs AS r ON r.tenant = c.tenant AND r.role = 0 AND r.reads_reports
                AND r.link = m.link AND r.value = m.value
            WHERE m.id = c.id) THEN 'manager'
        END AS why
    FROM c
), written AS (
    INSERT INTO resources
        (tenant, kind, id, unique_key, body, created, modified, version, profile)
    SELECT c.tenant, 'User', c.id, c.unique_key, c.body, c.stamp, c.stamp, 1, c.profile
    FROM c JOIN refused AS f ON f.id = c.id WHERE f.why IS NULL ORDER BY c.n
    ON CONFLICT DO NOTHING
    RETURNING tenant, id
), keys_written AS (
    INSERT INTO keys (tenant, kind, attr, value, id)
    SELECT w.tenant, 'User', k.attr, k.value, k.id
    FROM unnest($13::text[], $14::text[], $15::text[]) AS k(id, attr, value)
    JOIN written AS w ON w.id = k.id
    ON CONFLICT DO NOTHING
), places_written AS (
    INSERT INTO org_refs (tenant, role, link, value, id, counts, display, reads_reports)
    SELECT w.tenant, p.role, p.link, p.value, p.id, c.counts, c.display, false
    FROM unnest($16::text[], $17::int4[], $18::int4[], $19::text[]) AS p(id, role, link, value)
    JOIN written AS w ON w.id = p.id JOIN c ON c.id = p.id
    ON CONFLICT DO NOTHING
)
SELECT f.id, coalesce(f.why, CASE WHEN w.id IS NULL THEN 'taken' END)
FROM refused AS f LEFT JOIN written AS w ON w.id = f.id";

/// Commits `jobs` in one transaction (again after a deadlock) and answers every one.
pub(super) async fn commit(pool: &Pool, jobs: Vec<Job>) {
    let mut attempt = 1;
    loop {
        let client = match pool.get().await {
            Ok(client) => client,
            Err(e) => {
                let error = format!("no PostgreSQL connection: {e}");
                return fail_all(jobs, || StoreError::Backend(error.clone()));
            }
        };
        let answers = match send(&client, &jobs).await {
            Ok(answers) => answers,
            // Preparing a statement failed: nothing was sent.
            Err(error) => return fail_all(jobs, || db_error_of(&error)),
        };
        let Some(failure) = answers.iter().find_map(|answer| answer.as_ref().err()) else {
            let why = match answers
                .get(WRITE_AT)
                .map(|rows| rows.as_ref().map(|rows| not_written(rows)))
            {
                Some(Ok(Ok(why))) => why,
                _ => {
                    let error = "a batch of creates was committed, its answer unreadable";
                    return fail_all(jobs, || StoreError::Backend(error.into()));
                }
            };
            for job in jobs {
                let outcome = match why.get(&job.create.id).map(String::as_str) {
                    None => Outcome::Written,
                    Some(TAKEN) => Outcome::Failed(StoreError::Conflict),
                    Some(INDEX_NOT_CURRENT) => Outcome::Declined { counted: false },
                    Some(MANAGER_READS_COUNT) => Outcome::Declined { counted: true },
                    Some(other) => Outcome::Failed(StoreError::Backend(format!(
                        "a batched create was not written: {other}"
                    ))),
                };
                job.answer(outcome);
            }
            return;
        };
        if answers.last().is_some_and(|commit| {
            commit
                .as_ref()
                .is_err_and(|error| error.as_db_error().is_none())
        }) {
            // The connection failed before its COMMIT was answered: whether it was done is
            // unknown, and the connection leaves the pool.
            drop(deadpool_postgres::Object::take(client));
            let lost = "the connection to PostgreSQL was lost while committing a batch of creates";
            return fail_all(jobs, || StoreError::Backend(lost.into()));
        }
        // A failed statement failed the transaction, and its COMMIT rolled it back.
        if !retryable(failure) || attempt >= ATTEMPTS {
            return fail_all(jobs, || db_error_of(failure));
        }
        attempt += 1;
    }
}

/// The index of [`WRITE_CREATES`] among a batch's statements' answers.
const WRITE_AT: usize = 3;

/// The creates [`WRITE_CREATES`] did not write, by id, with why.
fn not_written(
    rows: &[Row],
) -> Result<std::collections::HashMap<String, String>, tokio_postgres::Error> {
    let mut why = std::collections::HashMap::new();
    for row in rows {
        if let Some(reason) = row.try_get::<_, Option<String>>(1)? {
            why.insert(row.try_get(0)?, reason);
        }
    }
    Ok(why)
}

fn fail_all(jobs: Vec<Job>, error: impl Fn() -> StoreError) {
    for job in jobs {
        job.answer(Outcome::Failed(error()));
    }
}

/// Sends `jobs` as one transaction in one round trip: every statement's answer, in order.
async fn send(
    client: &deadpool_postgres::Client,
    jobs: &[Job],
) -> Result<Vec<Result<Vec<Row>, tokio_postgres::Error>>, tokio_postgres::Error> {
    let mut queue = Queue::default();
    for (sql, params) in statements(jobs) {
        // Prepared before it is queued (cached after a connection's first batch).
        let statement = client.prepare_cached(sql).await?;
        queue.push(client, statement, params, true);
    }
    Ok(queue.flush_each().await)
}

/// The statements of one batch's transaction: `BEGIN`, the graphs' locks, the keys' locks,
/// [`WRITE_CREATES`] (at [`WRITE_AT`]), `COMMIT`.
fn statements(jobs: &[Job]) -> Vec<(&'static str, Vec<Param>)> {
    // Each tenant's graph shared, in one order (a rebuild holds it alone).
    let mut tenants: Vec<String> = jobs
        .iter()
        .map(|job| job.create.tenant.as_str().to_string())
        .collect();
    tenants.sort();
    tenants.dedup();
    // Every key in ascending order, as every write takes its own (org.rs); a batch naming
    // none locks none (an empty array).
    let mut locks: Vec<i64> = jobs
        .iter()
        .flat_map(|job| {
            let place = &job.create.place;
            let keys: Vec<_> = place.keys.iter().chain(&place.manager).cloned().collect();
            key_locks(&job.create.tenant, &keys)
        })
        .collect();
    locks.sort_unstable();
    locks.dedup();
    vec![
        ("BEGIN", Vec::new()),
        (
            "SELECT pg_advisory_xact_lock_shared(h) FROM (SELECT DISTINCT
                hashtextextended('canon-org:' || t, 0) AS h FROM unnest($1::text[]) AS t
                ORDER BY h) AS g",
            vec![Box::new(tenants)],
        ),
        (
            "SELECT pg_advisory_xact_lock(k) FROM unnest($1::int8[]) AS k",
            vec![Box::new(locks)],
        ),
        (WRITE_CREATES, write_params(jobs)),
        ("COMMIT", Vec::new()),
    ]
}

/// [`WRITE_CREATES`]'s parameters for `jobs`.
fn write_params(jobs: &[Job]) -> Vec<Param> {
    #[derive(Default)]
    struct Columns {
        tenant: Vec<String>,
        id: Vec<String>,
        unique_key: Vec<Option<String>>,
        body: Vec<String>,
        stamp: Vec<String>,
        profile: Vec<Option<String>>,
        signature: Vec<String>,
        counts: Vec<bool>,
        display: Vec<String>,
        manager: (Vec<String>, Vec<i32>, Vec<String>),
        keys: (Vec<String>, Vec<&'static str>, Vec<String>),
        places: (Vec<String>, Vec<i32>, Vec<i32>, Vec<String>),
    }
    let mut c = Columns::default();
    for job in jobs {
        let create = &job.create;
        let place = &create.place;
        c.tenant.push(create.tenant.as_str().to_string());
        c.id.push(create.id.clone());
        c.unique_key.push(create.unique_key.clone());
        c.body.push(create.body.clone());
        c.stamp.push(create.stamp.clone());
        c.profile.push(create.profile.clone());
        c.signature.push(create.signature.clone());
        c.counts.push(place.counts);
        c.display.push(place.display.clone());
        for (link, value) in &place.manager {
            c.manager.0.push(create.id.clone());
            c.manager.1.push(i32::from(*link));
            c.manager.2.push(value.clone());
        }
        for (attr, value) in create.keys.0.iter().zip(&create.keys.1) {
            c.keys.0.push(create.id.clone());
            c.keys.1.push(attr);
            c.keys.2.push(value.clone());
        }
        for (role, (link, value)) in place.rows() {
            c.places.0.push(create.id.clone());
            c.places.1.push(role);
            c.places.2.push(i32::from(*link));
            c.places.3.push(value.clone());
        }
    }
    vec![
        Box::new(c.tenant),
        Box::new(c.id),
        Box::new(c.unique_key),
        Box::new(c.body),
        Box::new(c.stamp),
        Box::new(c.profile),
        Box::new(c.signature),
        Box::new(c.counts),
        Box::new(c.display),
        Box::new(c.manager.0),
        Box::new(c.manager.1),
        Box::new(c.manager.2),
        Box::new(c.keys.0),
        Box::new(c.keys.1),
        Box::new(c.keys.2),
        Box::new(c.places.0),
        Box::new(c.places.1),
        Box::new(c.places.2),
        Box::new(c.places.3),
    ]
}
