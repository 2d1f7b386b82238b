//! Jobs, messages, agents and events in the node's redb file, written by one
//! writer thread that groups every write waiting in its queue into a single
//! transaction: one disk flush makes a whole batch durable, so thousands of
//! jobs a second cost a few hundred flushes, not thousands.
//!
//! The writer also numbers events, in commit order, and publishes them only
//! after their transaction is durable: a subscriber never sees an event that
//! a crash could take back, and event ids never go backwards.

use super::model::{Agent, Event, EventBody, Job, JobMessage};
use redb::{Database, Durability, ReadableTable, ReadableTableMetadata, TableDefinition};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use tokio::sync::{broadcast, oneshot};

const JOBS: TableDefinition<u64, &[u8]> = TableDefinition::new("jobs");
/// Jobs not yet done, failed, cancelled or skipped: what a restart reloads.
const LIVE: TableDefinition<u64, ()> = TableDefinition::new("jobs_live");
const TENANT_JOBS: TableDefinition<(&str, u64), ()> = TableDefinition::new("jobs_by_tenant");
const MESSAGES: TableDefinition<(u64, u32), &[u8]> = TableDefinition::new("job_messages");
const IDEMPOTENCY: TableDefinition<(&str, &str), u64> = TableDefinition::new("job_idempotency");
const EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("job_events");
/// (job, event): one job's events, for subscribers of that job.
const JOB_EVENTS: TableDefinition<(u64, u64), ()> = TableDefinition::new("job_events_by_job");
/// (parent, child): every job that named a parent, so adding a child never
/// rewrites its parent's record.
const CHILDREN: TableDefinition<(u64, u64), ()> = TableDefinition::new("job_children");
/// Children per parent, for the bound on them.
const CHILD_COUNTS: TableDefinition<u64, u64> = TableDefinition::new("job_child_counts");
/// Which one-time migrations of the job tables are done.
const META: TableDefinition<&str, u64> = TableDefinition::new("jobs_meta");
/// Done once: children moved from their parents' records into `CHILDREN`.
const CHILDREN_INDEXED: &str = "children_indexed";
const AGENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("agents");
const AGENT_NAMES: TableDefinition<(&str, &str), u64> = TableDefinition::new("agent_names");

/// Events pruned in one commit at most, so pruning never stalls the writer.
const MAX_PRUNED_PER_COMMIT: usize = 8192;

/// Batches drained into one transaction at most.
const MAX_BATCHES_PER_COMMIT: usize = 4096;

pub type StoreError = crate::kv_table::StoreError;

/// One change to the database.
pub enum Write {
    /// Store the job (encoded by the caller, off the writer thread);
    /// `announce` also records a `JobUpdate` event; `created` indexes a new job.
    Job {
        job: Job,
        encoded: Vec<u8>,
        announce: bool,
        created: bool,
    },
    /// Record `child` as a child of `parent` (the parent's record stays).
    Child {
        parent: u64,
        child: u64,
    },
    /// Append a message to a job's conversation (and a `StreamChunk` event).
    Message {
        tenant: String,
        job: String,
        number: u64,
        message: JobMessage,
    },
    Idempotency {
        tenant: String,
        key: String,
        number: u64,
    },
    Agent(Agent),
    /// Remove an agent (and its name).
    AgentDelete {
        number: u64,
        tenant: String,
        name: String,
    },
}

impl Write {
    /// A new job.
    pub fn created(job: Job) -> Write {
        Write::Job {
            encoded: job.encode(),
            job,
            announce: true,
            created: true,
        }
    }

    /// A job's new state, announced to subscribers.
    pub fn update(job: Job) -> Write {
        Write::Job {
            encoded: job.encode(),
            job,
            announce: true,
            created: false,
        }
    }
}

struct Batch {
    writes: Vec<Write>,
    done: Option<oneshot::Sender<Result<(), String>>>,
}

/// Resolves once a group of writes is durable.
pub struct Ack(Option<oneshot::Receiver<Result<(), String>>>);

impl std::future::IntoFuture for Ack {
    type Output = Result<(), String>;
    type IntoFuture = std::pin::Pin<Box<dyn Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            match self.0 {
                None => Ok(()),
                Some(rx) => rx
                    .await
                    .map_err(|_| "the job writer has stopped".to_string())?,
            }
        })
    }
}

/// The job tables and their writer.
pub struct JobStore {
    db: Arc<Database>,
    /// Group commits made and writes they carried, since start.
    pub commits: Arc<AtomicU64>,
    pub writes: Arc<AtomicU64>,
    /// The id of the last event committed.
    last_event: Arc<AtomicU64>,
    queue: Option<mpsc::Sender<Batch>>,
    writer: Option<std::thread::JoinHandle<()>>,
    pub events: broadcast::Sender<Arc<Event>>,
}

impl Drop for JobStore {
    /// Closing the queue stops the writer once it has committed what was
    /// queued; waiting for it means the database file is released on return.
    fn drop(&mut self) {
        self.queue.take();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

/// Highest ids in use, found when the store opens.
pub struct Counters {
    pub last_job: u64,
    pub last_agent: u64,
    pub last_event: u64,
}

impl JobStore {
    /// Opens the tables and starts the writer. `durable`: flush each commit to
    /// disk (off only for measuring what durability costs).
    pub fn open(
        db: Arc<Database>,
        durable: bool,
        events_retained: u64,
    ) -> Result<(JobStore, Counters), StoreError> {
        let tx = db.begin_write()?;
        let counters;
        {
            let jobs = tx.open_table(JOBS)?;
            tx.open_table(LIVE)?;
            tx.open_table(TENANT_JOBS)?;
            tx.open_table(MESSAGES)?;
            tx.open_table(IDEMPOTENCY)?;
            let events = tx.open_table(EVENTS)?;
            tx.open_table(JOB_EVENTS)?;
            let agents = tx.open_table(AGENTS)?;
            tx.open_table(AGENT_NAMES)?;
            index_children(
                &jobs,
                &mut tx.open_table(CHILDREN)?,
                &mut tx.open_table(CHILD_COUNTS)?,
                &mut tx.open_table(META)?,
            )?;
            let last =
                |r: Option<(redb::AccessGuard<u64>, _)>| r.map(|(k, _)| k.value()).unwrap_or(0);
            counters = Counters {
                last_job: last(jobs.last()?),
                last_agent: last(agents.last()?),
                last_event: last(events.last()?),
            };
        }
        tx.commit()?;
        let (queue, rx) = mpsc::channel();
        let (events, _) = broadcast::channel(4096);
        let last_event = Arc::new(AtomicU64::new(counters.last_event));
        let commits = Arc::new(AtomicU64::new(0));
        let writes = Arc::new(AtomicU64::new(0));
        let writer = Writer {
            commit_count: commits.clone(),
            write_count: writes.clone(),
            last_event: last_event.clone(),
            db: db.clone(),
            durability: if durable {
                Durability::Immediate
            } else {
                Durability::None
            },
            next_event: counters.last_event + 1,
            events: events.clone(),
            events_retained,
            commits: 0,
        };
        let writer = std::thread::Builder::new()
            .name("hanzo-jobs-writer".into())
            .spawn(move || writer.run(rx))
            .expect("cannot start the job writer thread");
        Ok((
            JobStore {
                db,
                commits,
                writes,
                last_event,
                queue: Some(queue),
                writer: Some(writer),
                events,
            },
            counters,
        ))
    }

    fn queue(&self) -> &mpsc::Sender<Batch> {
        self.queue.as_ref().expect("the queue closes only on drop")
    }

    /// Queues writes; they become durable with the next group commit.
    pub fn enqueue(&self, writes: Vec<Write>) {
        if writes.is_empty() {
            return;
        }
        let _ = self.queue().send(Batch { writes, done: None });
    }

    /// Queues writes; the returned [`Ack`] resolves once they are durable
    /// (at once when `wait` is false).
    pub fn send(&self, writes: Vec<Write>, wait: bool) -> Ack {
        if writes.is_empty() {
            return Ack(None);
        }
        let (tx, rx) = if wait {
            let (tx, rx) = oneshot::channel();
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        if self.queue().send(Batch { writes, done: tx }).is_err() {
            tracing::error!("the job writer has stopped; writes are lost");
        }
        Ack(rx)
    }

    /// Waits until every write queued so far is durable.
    pub async fn flush(&self) -> Result<(), String> {
        let (tx, rx) = oneshot::channel();
        self.queue()
            .send(Batch {
                writes: Vec::new(),
                done: Some(tx),
            })
            .map_err(|_| "the job writer has stopped".to_string())?;
        rx.await
            .map_err(|_| "the job writer has stopped".to_string())?
    }

    /// Queues writes and waits until they are durable.
    pub async fn commit(&self, writes: Vec<Write>) -> Result<(), String> {
        self.send(writes, true).await
    }

    /// The highest message number of a job (0 when it has none).
    pub fn last_message_seq(&self, number: u64) -> Result<u32, StoreError> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(MESSAGES)?;
        let last = table.range((number, 0)..=(number, u32::MAX))?.next_back();
        Ok(match last {
            Some(entry) => entry?.0.value().1,
            None => 0,
        })
    }

    pub fn job(&self, number: u64) -> Result<Option<Job>, StoreError> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(JOBS)?;
        let children = tx.open_table(CHILDREN)?;
        Ok(match table.get(number)? {
            Some(v) => Some(with_children(decode_job(v.value())?, &children)?),
            None => None,
        })
    }

    /// What a new child needs to know of a stored parent: its tenant, its
    /// state and how many children it has, without reading those children.
    pub fn parent(&self, number: u64) -> Result<Option<ParentHead>, StoreError> {
        #[derive(serde::Deserialize)]
        struct Head {
            tenant: String,
            state: super::model::JobState,
        }
        let tx = self.db.begin_read()?;
        let table = tx.open_table(JOBS)?;
        let Some(v) = table.get(number)? else {
            return Ok(None);
        };
        let head: Head = serde_json::from_slice(v.value()).map_err(corrupt)?;
        let children = tx
            .open_table(CHILD_COUNTS)?
            .get(number)?
            .map_or(0, |c| c.value());
        Ok(Some(ParentHead {
            tenant: head.tenant,
            state: head.state,
            children,
        }))
    }

    /// A tenant's jobs, newest first, below `before`, passing `keep`, at most `limit`.
    pub fn list(
        &self,
        tenant: &str,
        before: Option<u64>,
        limit: usize,
        mut keep: impl FnMut(&Job) -> bool,
    ) -> Result<(Vec<Job>, Option<u64>), StoreError> {
        let tx = self.db.begin_read()?;
        let index = tx.open_table(TENANT_JOBS)?;
        let jobs = tx.open_table(JOBS)?;
        let children = tx.open_table(CHILDREN)?;
        let upper = before.unwrap_or(u64::MAX);
        let mut out = Vec::new();
        let mut next = None;
        for entry in index.range((tenant, 0)..(tenant, upper))?.rev() {
            let (k, _) = entry?;
            let number = k.value().1;
            let Some(bytes) = jobs.get(number)? else {
                continue;
            };
            let job = decode_job(bytes.value())?;
            if !keep(&job) {
                continue;
            }
            if out.len() == limit {
                next = out.last().map(Job::number);
                break;
            }
            out.push(with_children(job, &children)?);
        }
        Ok((out, next))
    }

    /// Every job that was not finished when the node stopped.
    pub fn live_jobs(&self) -> Result<Vec<Job>, StoreError> {
        let tx = self.db.begin_read()?;
        let live = tx.open_table(LIVE)?;
        let jobs = tx.open_table(JOBS)?;
        let children = tx.open_table(CHILDREN)?;
        let mut out = Vec::new();
        for entry in live.iter()? {
            let (k, _) = entry?;
            if let Some(bytes) = jobs.get(k.value())? {
                out.push(with_children(decode_job(bytes.value())?, &children)?);
            }
        }
        Ok(out)
    }

    pub fn messages(
        &self,
        number: u64,
        after: u32,
        limit: usize,
    ) -> Result<Vec<JobMessage>, StoreError> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(MESSAGES)?;
        let mut out = Vec::new();
        for entry in table.range((number, after.saturating_add(1))..=(number, u32::MAX))? {
            if out.len() >= limit {
                break;
            }
            let (_, v) = entry?;
            out.push(serde_json::from_slice(v.value()).map_err(corrupt)?);
        }
        Ok(out)
    }

    pub fn idempotency(&self, tenant: &str, key: &str) -> Result<Option<u64>, StoreError> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(IDEMPOTENCY)?;
        Ok(table.get((tenant, key))?.map(|v| v.value()))
    }

    /// Events after `after` of one tenant (and one job, when given), oldest first.
    pub fn events_after(
        &self,
        tenant: &str,
        job: Option<&str>,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Event>, StoreError> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(EVENTS)?;
        let mut out = Vec::new();
        if let Some(number) = job.and_then(super::model::parse_job_id) {
            let index = tx.open_table(JOB_EVENTS)?;
            for entry in index.range((number, after.saturating_add(1))..=(number, u64::MAX))? {
                if out.len() >= limit {
                    break;
                }
                let id = entry?.0.value().1;
                if let Some(v) = table.get(id)? {
                    let event: Event = serde_json::from_slice(v.value()).map_err(corrupt)?;
                    if event.tenant == tenant {
                        out.push(event);
                    }
                }
            }
            return Ok(out);
        }
        for entry in table.range(after.saturating_add(1)..)? {
            if out.len() >= limit {
                break;
            }
            let (_, v) = entry?;
            let event: Event = serde_json::from_slice(v.value()).map_err(corrupt)?;
            if event.tenant == tenant && job.is_none_or(|j| j == event.job) {
                out.push(event);
            }
        }
        Ok(out)
    }

    /// The id of the last committed event (0: none yet).
    pub fn last_event_id(&self) -> u64 {
        self.last_event.load(Ordering::Acquire)
    }

    /// The oldest event id still stored (older ones were pruned).
    pub fn first_event(&self) -> Result<Option<u64>, StoreError> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(EVENTS)?;
        Ok(table.first()?.map(|(k, _)| k.value()))
    }

    pub fn agent(&self, number: u64) -> Result<Option<Agent>, StoreError> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(AGENTS)?;
        Ok(match table.get(number)? {
            Some(v) => Some(Agent::decode(v.value()).map_err(corrupt)?),
            None => None,
        })
    }

    pub fn agent_named(&self, tenant: &str, name: &str) -> Result<Option<u64>, StoreError> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(AGENT_NAMES)?;
        Ok(table.get((tenant, name))?.map(|v| v.value()))
    }

    pub fn agents(&self, tenant: &str) -> Result<Vec<Agent>, StoreError> {
        let tx = self.db.begin_read()?;
        let names = tx.open_table(AGENT_NAMES)?;
        let agents = tx.open_table(AGENTS)?;
        let mut out = Vec::new();
        for entry in names.range((tenant, "")..)? {
            let (k, v) = entry?;
            if k.value().0 != tenant {
                break;
            }
            if let Some(bytes) = agents.get(v.value())? {
                out.push(Agent::decode(bytes.value()).map_err(corrupt)?);
            }
        }
        Ok(out)
    }

    /// Events stored (for tests and the health view).
    pub fn event_count(&self) -> Result<u64, StoreError> {
        let tx = self.db.begin_read()?;
        Ok(tx.open_table(EVENTS)?.len()?)
    }
}

/// A stored parent as [`JobStore::parent`] reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct ParentHead {
    pub tenant: String,
    pub state: super::model::JobState,
    /// Children recorded so far.
    pub children: u64,
}

fn decode_job(bytes: &[u8]) -> Result<Job, StoreError> {
    Job::decode(bytes).map_err(corrupt)
}

/// The job with its children from the index (its record holds none).
fn with_children(
    mut job: Job,
    children: &impl ReadableTable<(u64, u64), ()>,
) -> Result<Job, StoreError> {
    let n = job.number();
    job.children.clear();
    for entry in children.range((n, 0)..=(n, u64::MAX))? {
        job.children.push(super::model::job_id(entry?.0.value().1));
    }
    Ok(job)
}

/// The record to store for a job encoded with its children: the same with
/// an empty `children` (last in the encoding), which the index holds.
fn without_children(encoded: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    const EMPTY: &[u8] = b"\"children\":[]}";
    const KEY: &[u8] = b",\"children\":[";
    if encoded.ends_with(EMPTY) {
        return encoded.into();
    }
    // Children are job ids, so the key's last occurrence is the field's.
    match encoded.windows(KEY.len()).rposition(|w| w == KEY) {
        Some(at) => {
            let mut record = Vec::with_capacity(at + EMPTY.len() + 1);
            record.extend_from_slice(&encoded[..at + 1]);
            record.extend_from_slice(EMPTY);
            record.into()
        }
        None => encoded.into(),
    }
}

/// Moves the children that records of earlier versions kept inline into the
/// index, once per database: nothing stored before is lost, and from then on
/// the index alone says which children a job has.
fn index_children(
    jobs: &impl ReadableTable<u64, &'static [u8]>,
    children: &mut redb::Table<(u64, u64), ()>,
    counts: &mut redb::Table<u64, u64>,
    meta: &mut redb::Table<&str, u64>,
) -> Result<(), StoreError> {
    if meta.get(CHILDREN_INDEXED)?.is_some() {
        return Ok(());
    }
    #[derive(serde::Deserialize)]
    struct Kids {
        #[serde(default)]
        children: Vec<String>,
    }
    let mut moved = 0u64;
    for entry in jobs.iter()? {
        let (k, v) = entry?;
        let Ok(kids) = serde_json::from_slice::<Kids>(v.value()) else {
            continue;
        };
        if kids.children.is_empty() {
            continue;
        }
        let parent = k.value();
        let mut count = 0;
        for child in kids
            .children
            .iter()
            .filter_map(|c| super::model::parse_job_id(c))
        {
            if children.insert((parent, child), ())?.is_none() {
                count += 1;
            }
        }
        counts.insert(parent, count)?;
        moved += count;
    }
    meta.insert(CHILDREN_INDEXED, 1)?;
    if moved > 0 {
        tracing::info!(children = moved, "job children moved into their own index");
    }
    Ok(())
}

fn corrupt(e: serde_json::Error) -> StoreError {
    StoreError::Storage(redb::StorageError::Corrupted(format!(
        "undecodable job record: {e}"
    )))
}

struct Writer {
    db: Arc<Database>,
    commit_count: Arc<AtomicU64>,
    write_count: Arc<AtomicU64>,
    last_event: Arc<AtomicU64>,
    durability: Durability,
    next_event: u64,
    events: broadcast::Sender<Arc<Event>>,
    events_retained: u64,
    commits: u64,
}

impl Writer {
    fn run(mut self, rx: mpsc::Receiver<Batch>) {
        while let Ok(first) = rx.recv() {
            let mut batches = vec![first];
            while batches.len() < MAX_BATCHES_PER_COMMIT {
                match rx.try_recv() {
                    Ok(b) => batches.push(b),
                    Err(_) => break,
                }
            }
            let first_event = self.next_event;
            match self.apply(&batches) {
                Ok(events) => {
                    self.last_event
                        .store(self.next_event - 1, Ordering::Release);
                    self.commit_count.fetch_add(1, Ordering::Relaxed);
                    let n: usize = batches.iter().map(|b| b.writes.len()).sum();
                    self.write_count.fetch_add(n as u64, Ordering::Relaxed);
                    for b in batches {
                        if let Some(done) = b.done {
                            let _ = done.send(Ok(()));
                        }
                    }
                    for e in events {
                        let _ = self.events.send(Arc::new(e));
                    }
                }
                Err(e) => {
                    self.next_event = first_event;
                    tracing::error!(error = %e, batches = batches.len(), "job store commit failed");
                    for b in batches {
                        if let Some(done) = b.done {
                            let _ = done.send(Err(format!("job store commit failed: {e}")));
                        }
                    }
                }
            }
        }
    }

    fn apply(&mut self, batches: &[Batch]) -> Result<Vec<Event>, StoreError> {
        let mut tx = self.db.begin_write()?;
        tx.set_durability(self.durability);
        let mut events = Vec::new();
        {
            let mut jobs = tx.open_table(JOBS)?;
            let mut live = tx.open_table(LIVE)?;
            let mut by_tenant = tx.open_table(TENANT_JOBS)?;
            let mut messages = tx.open_table(MESSAGES)?;
            let mut idempotency = tx.open_table(IDEMPOTENCY)?;
            let mut event_table = tx.open_table(EVENTS)?;
            let mut job_events = tx.open_table(JOB_EVENTS)?;
            let mut agents = tx.open_table(AGENTS)?;
            let mut agent_names = tx.open_table(AGENT_NAMES)?;
            let mut children = tx.open_table(CHILDREN)?;
            let mut child_counts = tx.open_table(CHILD_COUNTS)?;
            // An event is stored as the JSON of `Event`, assembled around the
            // data the caller already encoded.
            let mut record =
                |tenant: &str, job: &str, body: EventBody, data: &[u8]| -> Result<(), StoreError> {
                    let id = self.next_event;
                    self.next_event += 1;
                    let kind = match body {
                        EventBody::JobUpdate(_) => "JobUpdate",
                        EventBody::StreamChunk(_) => "StreamChunk",
                    };
                    let mut bytes = Vec::with_capacity(data.len() + tenant.len() + job.len() + 64);
                    bytes.extend_from_slice(format!("{{\"id\":{id},\"tenant\":").as_bytes());
                    serde_json::to_writer(&mut bytes, tenant).expect("a string serializes");
                    bytes.extend_from_slice(b",\"job\":");
                    serde_json::to_writer(&mut bytes, job).expect("a string serializes");
                    bytes.extend_from_slice(format!(",\"type\":\"{kind}\",\"data\":").as_bytes());
                    bytes.extend_from_slice(data);
                    bytes.push(b'}');
                    event_table.insert(id, bytes.as_slice())?;
                    job_events.insert((super::model::parse_job_id(job).unwrap_or(0), id), ())?;
                    events.push(Event {
                        id,
                        tenant: tenant.to_string(),
                        job: job.to_string(),
                        body,
                    });
                    Ok(())
                };
            for write in batches.iter().flat_map(|b| &b.writes) {
                match write {
                    Write::Job {
                        job,
                        encoded,
                        announce,
                        created,
                    } => {
                        let n = job.number();
                        jobs.insert(n, &*without_children(encoded))?;
                        let terminal = job.state.is_terminal();
                        if *created {
                            by_tenant.insert((job.tenant.as_str(), n), ())?;
                            if !terminal {
                                live.insert(n, ())?;
                            }
                        } else if terminal {
                            live.remove(n)?;
                        }
                        if *announce {
                            record(
                                &job.tenant,
                                &job.id,
                                EventBody::JobUpdate(Box::new(job.clone())),
                                encoded,
                            )?;
                        }
                    }
                    Write::Child { parent, child } => {
                        if children.insert((*parent, *child), ())?.is_none() {
                            let count = child_counts.get(*parent)?.map_or(0, |c| c.value());
                            child_counts.insert(*parent, count + 1)?;
                        }
                    }
                    Write::Message {
                        tenant,
                        job,
                        number,
                        message,
                    } => {
                        let bytes =
                            serde_json::to_vec(message).expect("a message always serializes");
                        messages.insert((*number, message.seq), bytes.as_slice())?;
                        record(tenant, job, EventBody::StreamChunk(message.clone()), &bytes)?;
                    }
                    Write::Idempotency {
                        tenant,
                        key,
                        number,
                    } => {
                        idempotency.insert((tenant.as_str(), key.as_str()), *number)?;
                    }
                    Write::Agent(agent) => {
                        let n = super::model::parse_agent_id(&agent.id).unwrap_or(0);
                        if let Some(old) = agents.get(n)?.map(|v| v.value().to_vec())
                            && let Ok(old) = Agent::decode(&old)
                            && old.spec.name != agent.spec.name
                        {
                            agent_names.remove((old.tenant.as_str(), old.spec.name.as_str()))?;
                        }
                        agents.insert(n, agent.encode().as_slice())?;
                        agent_names.insert((agent.tenant.as_str(), agent.spec.name.as_str()), n)?;
                    }
                    Write::AgentDelete {
                        number,
                        tenant,
                        name,
                    } => {
                        agents.remove(*number)?;
                        agent_names.remove((tenant.as_str(), name.as_str()))?;
                    }
                }
            }
            self.commits += 1;
            // Keep the event log bounded: every so often drop the oldest.
            if self.commits.is_multiple_of(64) && self.next_event > self.events_retained + 1 {
                let cutoff = self.next_event - self.events_retained;
                #[derive(serde::Deserialize)]
                struct Head {
                    job: String,
                }
                let mut old = Vec::new();
                for entry in event_table.range(..cutoff)?.take(MAX_PRUNED_PER_COMMIT) {
                    let (k, v) = entry?;
                    let job = serde_json::from_slice::<Head>(v.value())
                        .ok()
                        .and_then(|h| super::model::parse_job_id(&h.job))
                        .unwrap_or(0);
                    old.push((job, k.value()));
                }
                for (job, id) in old {
                    event_table.remove(id)?;
                    job_events.remove((job, id))?;
                }
            }
        }
        tx.commit()?;
        Ok(events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::model::{JobKind, JobState, OnParentFailure, RetryPolicy, job_id};

    fn job(n: u64, tenant: &str, state: JobState) -> Job {
        Job {
            id: job_id(n),
            tenant: tenant.into(),
            kind: JobKind::Tool,
            state,
            priority: 0,
            input: serde_json::json!({"tool": "noop"}),
            attempts: 0,
            retry: RetryPolicy::default(),
            parents: vec![],
            children: vec![],
            on_parent_failure: OnParentFailure::Fail,
            timeout_ms: 1000,
            idempotency_key: None,
            origin: None,
            result: None,
            error: None,
            created_ms: 0,
            updated_ms: 0,
            started_ms: None,
            finished_ms: None,
            next_attempt_ms: None,
            message_count: 0,
        }
    }

    fn open(dir: &std::path::Path, retained: u64) -> (JobStore, Counters) {
        let db = Arc::new(Database::create(dir.join("node.redb")).unwrap());
        JobStore::open(db, false, retained).unwrap()
    }

    #[tokio::test]
    async fn events_are_numbered_in_commit_order_indexed_by_job_and_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let (store, counters) = open(dir.path(), 100);
        assert_eq!(counters.last_event, 0);
        let mut live = store.events.subscribe();
        for n in 1..=150u64 {
            let tenant = if n % 2 == 0 { "a" } else { "b" };
            store
                .commit(vec![Write::created(job(n, tenant, JobState::Pending))])
                .await
                .unwrap();
            store
                .commit(vec![Write::update(job(n, tenant, JobState::Done))])
                .await
                .unwrap();
        }
        assert_eq!(store.last_event_id(), 300);
        // Published after commit, in id order.
        for id in 1..=300 {
            assert_eq!(live.recv().await.unwrap().id, id);
        }
        // 300 events, 100 kept: the oldest were pruned along with their index.
        let first = store.first_event().unwrap().unwrap();
        assert!(first > 1 && first <= 201, "first kept event {first}");
        assert!(store.event_count().unwrap() < 300);
        let of_job = store.events_after("a", Some(&job_id(150)), 0, 10).unwrap();
        assert_eq!(of_job.len(), 2);
        assert!(
            store
                .events_after("b", Some(&job_id(150)), 0, 10)
                .unwrap()
                .is_empty()
        );
        assert!(
            store
                .events_after("a", Some(&job_id(2)), 0, 10)
                .unwrap()
                .is_empty()
        );
        // Finished jobs leave the live set; the tenant index pages newest first.
        assert!(store.live_jobs().unwrap().is_empty());
        let (page, next) = store.list("a", None, 2, |_| true).unwrap();
        assert_eq!(
            page.iter().map(|j| j.number()).collect::<Vec<_>>(),
            [150, 148]
        );
        assert_eq!(next, Some(148));
        drop(store);
        // Dropping the store released the file; counters resume from it.
        let db = Database::create(dir.path().join("node.redb")).unwrap();
        let (_, counters) = JobStore::open(Arc::new(db), false, 100).unwrap();
        assert_eq!((counters.last_job, counters.last_event), (150, 300));
    }

    /// The raw record of job `n`, as stored.
    fn record(store: &JobStore, n: u64) -> Vec<u8> {
        let tx = store.db.begin_read().unwrap();
        let table = tx.open_table(JOBS).unwrap();
        table.get(n).unwrap().unwrap().value().to_vec()
    }

    #[tokio::test]
    async fn adding_a_child_leaves_the_parent_record_alone() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = open(dir.path(), 100);
        store
            .commit(vec![Write::created(job(1, "a", JobState::Done))])
            .await
            .unwrap();
        let before = record(&store, 1);
        for child in 2..=5 {
            store
                .commit(vec![
                    Write::Child { parent: 1, child },
                    Write::created(job(child, "a", JobState::Pending)),
                ])
                .await
                .unwrap();
        }
        assert_eq!(record(&store, 1), before, "the parent was rewritten");
        let parent = store.job(1).unwrap().unwrap();
        assert_eq!(parent.children, ["job_2", "job_3", "job_4", "job_5"]);
        let head = store.parent(1).unwrap().unwrap();
        assert_eq!(
            (head.tenant.as_str(), head.state, head.children),
            ("a", JobState::Done, 4)
        );
        // The same child twice counts once.
        store
            .commit(vec![Write::Child {
                parent: 1,
                child: 5,
            }])
            .await
            .unwrap();
        assert_eq!(store.parent(1).unwrap().unwrap().children, 4);

        // A parent written with its children (as the scheduler writes a
        // live one) is stored without them; its event keeps them.
        let mut live = job(6, "a", JobState::Done);
        live.children = vec!["job_7".into()];
        store
            .commit(vec![
                Write::Child {
                    parent: 6,
                    child: 7,
                },
                Write::update(live),
            ])
            .await
            .unwrap();
        assert!(record(&store, 6).ends_with(b"\"children\":[]}"));
        assert_eq!(store.job(6).unwrap().unwrap().children, ["job_7"]);
        let events = store.events_after("a", Some("job_6"), 0, 10).unwrap();
        match &events.last().unwrap().body {
            EventBody::JobUpdate(j) => assert_eq!(j.children, ["job_7"]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn records_end_with_their_children() {
        let mut j = job(3, "a", JobState::Pending);
        j.input = serde_json::json!({"children": ["job_9"], "x": ",\"children\":["});
        j.children = vec!["job_4".into(), "job_5".into()];
        let encoded = j.encode();
        assert!(encoded.ends_with(b",\"children\":[\"job_4\",\"job_5\"]}"));
        let cut = without_children(&encoded);
        let back = Job::decode(&cut).unwrap();
        assert!(back.children.is_empty());
        assert_eq!(back.input, j.input);
        assert_eq!(back.tenant, "a");
    }

    /// A database written before children had their own index: every
    /// parent keeps its children, read from the index from then on.
    #[tokio::test]
    async fn children_kept_in_records_move_to_the_index_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.redb");
        {
            let db = Database::create(&path).unwrap();
            let tx = db.begin_write().unwrap();
            {
                let mut jobs = tx.open_table(JOBS).unwrap();
                let mut parent = job(1, "a", JobState::Done);
                parent.children = vec!["job_2".into(), "job_3".into()];
                // Field order of the old records: children before the rest.
                let mut old = serde_json::to_value(&parent).unwrap();
                old["tenant"] = "a".into();
                jobs.insert(1, serde_json::to_vec(&old).unwrap().as_slice())
                    .unwrap();
                for n in [2, 3] {
                    jobs.insert(n, job(n, "a", JobState::Done).encode().as_slice())
                        .unwrap();
                }
                let mut by_tenant = tx.open_table(TENANT_JOBS).unwrap();
                for n in 1..=3 {
                    by_tenant.insert(("a", n), ()).unwrap();
                }
            }
            tx.commit().unwrap();
        }
        let (store, counters) =
            JobStore::open(Arc::new(Database::create(&path).unwrap()), false, 100).unwrap();
        assert_eq!(counters.last_job, 3);
        assert_eq!(store.job(1).unwrap().unwrap().children, ["job_2", "job_3"]);
        assert_eq!(store.parent(1).unwrap().unwrap().children, 2);
        let (page, _) = store.list("a", None, 10, |_| true).unwrap();
        assert_eq!(page[2].children, ["job_2", "job_3"]);
        store
            .commit(vec![Write::Child {
                parent: 1,
                child: 4,
            }])
            .await
            .unwrap();
        drop(store);
        // Opening again does not index twice.
        let (store, _) =
            JobStore::open(Arc::new(Database::create(&path).unwrap()), false, 100).unwrap();
        assert_eq!(
            store.job(1).unwrap().unwrap().children,
            ["job_2", "job_3", "job_4"]
        );
        assert_eq!(store.parent(1).unwrap().unwrap().children, 3);
    }
}
