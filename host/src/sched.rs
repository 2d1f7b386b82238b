//! CPU fairness between plugin calls: guest code that runs long leaves the
//! threads that accept and answer.
//!
//! A plugin call starts on the thread that took its request: handing every
//! request to another thread costs a wake-up and a context switch, and almost
//! every call is done in microseconds. The task driving a call runs inside a
//! [`Lane`] ([`offloadable`]). When an epoch tick finds guest code that has
//! been running for longer than [`SLICE`] since its task was last polled, the
//! whole task moves to the *background pool*: a few threads at a lower OS
//! priority, where long calls take turns of one epoch tick each (tokio's
//! `yield_now`, which lets the thread's I/O and timers run between turns). The
//! serving threads so run guest code for at most a slice plus a tick, and a
//! plugin seen running long starts its next calls in the background at once
//! ([`CpuHistory`], [`offload`]): short calls first, long ones behind them.
//!
//! In the background one plugin holds at most [`cores_per_plugin`] threads
//! at once: its calls take turns for them, so a plugin that floods the node
//! with loops leaves the other background threads to other plugins.
//!
//! Outside a lane (a test driving the runtime directly) a busy call still
//! yields at every tick, with the wake-up deferred behind the thread's I/O.

use std::pin::Pin;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime::UpdateDeadline;

/// Guest code running this long without returning to its task's executor is
/// a long call: at the next epoch tick it moves to the background pool. The
/// time is the thread's CPU time, not the clock's: on a busy machine a
/// thread preempted in the middle of a short call has not run long.
pub const SLICE: Duration = Duration::from_millis(1);

/// How long a plugin whose call moved to the background keeps starting its
/// calls there.
pub const HEAVY_FOR: Duration = Duration::from_secs(10);

/// Background threads lower their scheduling priority by this much (nice),
/// so a serving thread that wakes up takes the CPU from them at once.
const BACKGROUND_NICE: i32 = 10;

static BASE: LazyLock<Instant> = LazyLock::new(Instant::now);

fn now_ns() -> u64 {
    BASE.elapsed().as_nanos() as u64
}

/// The CPU time the calling thread used. A syscall (about 250 ns, against
/// 30 for the clock), so it is read at epoch ticks and background polls only.
fn thread_cpu_ns() -> u64 {
    #[cfg(target_os = "linux")]
    {
        let mut t = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `t` is a valid timespec for the call to fill.
        if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) } == 0 {
            return t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64;
        }
    }
    now_ns()
}

tokio::task_local! {
    static LANE: Arc<Lane>;
}

const FOREGROUND: u8 = 0;
const MOVING: u8 = 1;
const BACKGROUND: u8 = 2;

/// Where the task driving plugin calls runs, and since when it is being polled.
struct Lane {
    state: AtomicU8,
    /// `now_ns()` when the task's current poll began.
    polled_at: AtomicU64,
    /// In the background: [`thread_cpu_ns`] when the current poll began.
    cpu_at_poll: AtomicU64,
    /// On a serving thread: the last tick that found the current poll past
    /// a slice of the clock, to tell at the next tick whether it runs or
    /// only waited for the CPU.
    seen: std::sync::Mutex<Option<Seen>>,
    /// In the background: the turn (one of its plugin's background threads)
    /// the task's running call holds.
    turn: std::sync::Mutex<Option<OwnedSemaphorePermit>>,
}

/// A tick that found a poll past a slice of the clock.
#[derive(Clone, Copy)]
struct Seen {
    /// The poll's `polled_at`, which tells polls apart.
    polled_at: u64,
    wall: u64,
    cpu: u64,
}

impl Lane {
    /// Whether the poll begun at `polled_at`, past a slice of the clock at
    /// `now`, is a long call: at two ticks of the same poll, the thread ran
    /// a slice of CPU in between, and for most of the time that passed. One
    /// reading cannot tell: the CPU time at the poll's start is not known
    /// (reading it at every poll would cost each request a syscall).
    fn runs_long(&self, polled_at: u64, now: u64) -> bool {
        let cpu = thread_cpu_ns();
        let mut seen = crate::lock(&self.seen);
        if let Some(s) = *seen
            && s.polled_at == polled_at
        {
            let ran = cpu.saturating_sub(s.cpu);
            if ran >= SLICE.as_nanos() as u64 && ran * 2 >= now.saturating_sub(s.wall) {
                return true;
            }
        }
        *seen = Some(Seen {
            polled_at,
            wall: now,
            cpu,
        });
        false
    }
}

/// Background threads one plugin may hold at once: half of them, at least one.
pub fn cores_per_plugin() -> usize {
    (background_threads() / 2).max(1)
}

fn background_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// When a plugin's calls last had to move to the background, and its turns
/// there. Kept per loaded plugin version. A slow start (a language runtime
/// instantiating) and a long call are kept apart: a plugin slow to start
/// starts its fresh instances in the background, while its calls on parked
/// instances, short, stay on the serving threads.
#[derive(Debug)]
pub struct CpuHistory {
    /// `now_ns()` + 1 of the last call that ran long; 0: never.
    moved_at: AtomicU64,
    /// `now_ns()` + 1 of the last instantiation that ran long; 0: never.
    start_moved_at: AtomicU64,
    /// Calls of this plugin that ran in the background.
    moves: AtomicU64,
    /// Its calls running in the background at once: [`cores_per_plugin`].
    turns: Arc<Semaphore>,
}

impl Default for CpuHistory {
    fn default() -> Self {
        CpuHistory {
            moved_at: AtomicU64::new(0),
            start_moved_at: AtomicU64::new(0),
            moves: AtomicU64::new(0),
            turns: Arc::new(Semaphore::new(cores_per_plugin())),
        }
    }
}

/// Now, for [`CpuHistory::ended`] when the call starting now ends.
pub fn mark() -> u64 {
    now_ns()
}

/// Whether a mark (`now_ns()` + 1, or 0) is recent.
fn recent(at: u64) -> bool {
    at != 0 && now_ns().saturating_sub(at - 1) < HEAVY_FOR.as_nanos() as u64
}

impl CpuHistory {
    /// Whether this plugin ran long recently: its next calls start in the
    /// background. `fresh`: the call instantiates first, so a slow start
    /// counts too.
    pub fn is_heavy(&self, fresh: bool) -> bool {
        recent(self.moved_at.load(Ordering::Relaxed))
            || (fresh && recent(self.start_moved_at.load(Ordering::Relaxed)))
    }

    /// Calls that ran in the background (moved there, or started there)
    /// since the plugin was loaded.
    pub fn moves(&self) -> u64 {
        self.moves.load(Ordering::Relaxed)
    }

    /// A call (an instantiation when `starting`) that began at `since` (a
    /// [`mark`]) ended normally. When no call of the plugin ran long since,
    /// the plugin is no longer heavy: a long call sends its next calls to
    /// the background, a short one brings them back. A runtime whose first
    /// call per instance is slow (Python importing its modules) would
    /// otherwise keep every later call, short, in the background.
    pub fn ended(&self, since: u64, starting: bool) {
        let mark = if starting {
            &self.start_moved_at
        } else {
            &self.moved_at
        };
        let at = mark.load(Ordering::Relaxed);
        if at != 0 && at - 1 < since {
            let _ = mark.compare_exchange(at, 0, Ordering::Relaxed, Ordering::Relaxed);
        }
    }

    /// A call of this plugin moved to the background.
    fn record_move(&self, starting: bool) {
        self.still_heavy(starting);
        self.moves.fetch_add(1, Ordering::Relaxed);
    }

    /// A call of this plugin ran past a slice (in the background too),
    /// while instantiating when `starting`: it stays heavy, so its calls (or
    /// its fresh instances) keep starting in the background.
    fn still_heavy(&self, starting: bool) {
        let mark = if starting {
            &self.start_moved_at
        } else {
            &self.moved_at
        };
        mark.store(now_ns() + 1, Ordering::Relaxed);
    }
}

/// The background pool: lazily started, shared by every runtime of the process.
fn background() -> &'static tokio::runtime::Handle {
    static POOL: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    POOL.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(background_threads())
            .thread_name("guest-background")
            .on_thread_start(lower_priority)
            .enable_all()
            .build()
            .expect("cannot start the background pool for long plugin calls")
    })
    .handle()
}

/// Lowers the calling thread's scheduling priority (Linux: per thread).
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: plain syscalls on the calling thread; failure leaves the
    // priority as it was, which is only less fair.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, BACKGROUND_NICE);
    }
}

/// Runs `fut` (a task that drives plugin calls) where it started until one of
/// its calls runs long, then on the background pool. Spawn the result.
pub fn offloadable<F>(fut: F) -> Offloadable<F>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let lane = Arc::new(Lane {
        state: AtomicU8::new(FOREGROUND),
        polled_at: AtomicU64::new(0),
        cpu_at_poll: AtomicU64::new(0),
        seen: std::sync::Mutex::new(None),
        turn: std::sync::Mutex::new(None),
    });
    Offloadable {
        stage: Stage::Here(Box::pin(LANE.scope(lane.clone(), fut))),
        lane,
    }
}

/// Moves the current task to the background pool before going on, when it
/// runs in a lane on a serving thread; otherwise does nothing.
pub async fn offload() -> bool {
    let Ok(lane) = LANE.try_with(|l| l.clone()) else {
        return false;
    };
    let moving = lane
        .state
        .compare_exchange(FOREGROUND, MOVING, Ordering::AcqRel, Ordering::Acquire)
        .is_ok();
    if moving {
        YieldOnce(false).await;
    }
    moving
}

/// A plugin call just ended: the time the task ran so far in this poll was
/// that call's (and judged at its ticks), not the caller's, whose guest code
/// resumes now. Called at the end of every bounded plugin call.
pub fn restart_slice() {
    let _ = LANE.try_with(|l| l.polled_at.store(now_ns(), Ordering::Relaxed));
}

/// Before a call of the plugin of `history` (on a `fresh` instance or a
/// parked one): when it ran long lately ([`CpuHistory::is_heavy`]), the call
/// starts in the background. A call whose task is there already (its caller
/// moved) counts as one that ran there.
pub async fn offload_if_heavy(history: &CpuHistory, fresh: bool) {
    let Ok(state) = LANE.try_with(|l| l.state.load(Ordering::Acquire)) else {
        return;
    };
    if state == BACKGROUND {
        history.moves.fetch_add(1, Ordering::Relaxed);
    } else if history.is_heavy(fresh) && offload().await {
        history.moves.fetch_add(1, Ordering::Relaxed);
        // Start with a turn, as one that moved at a tick would.
        let turn = history.turns.clone().acquire_owned().await.ok();
        let _ = LANE.try_with(|l| *crate::lock(&l.turn) = turn);
    }
}

/// What the epoch callback of a call still within its time limit should do:
/// keep going (a short call on a serving thread), move to the background
/// (running past [`SLICE`]), or take its turn (in the background, or outside
/// any lane). `starting`: the guest code running is the instance's start
/// (instantiation), not a call.
pub fn at_epoch_tick(history: &CpuHistory, starting: bool) -> UpdateDeadline {
    let lane = LANE.try_with(|l| {
        (
            l.state.load(Ordering::Acquire),
            l.polled_at.load(Ordering::Relaxed),
            l.clone(),
        )
    });
    match lane {
        Ok((FOREGROUND, polled_at, lane)) => {
            let now = now_ns();
            if now.saturating_sub(polled_at) < SLICE.as_nanos() as u64
                || !lane.runs_long(polled_at, now)
            {
                return UpdateDeadline::Continue(1);
            }
            history.record_move(starting);
            lane.state.store(MOVING, Ordering::Release);
            UpdateDeadline::YieldCustom(1, Box::pin(YieldOnce(false)))
        }
        Ok((MOVING, ..)) => UpdateDeadline::YieldCustom(1, Box::pin(YieldOnce(false))),
        // In the background: the turn ends; the next one waits for the
        // plugin's share of the threads.
        Ok((_, polled_at, lane)) => {
            // Background threads yield to everything else: judged by the
            // clock, a call there waiting for the CPU would keep its plugin
            // heavy for ever.
            if now_ns().saturating_sub(polled_at) >= SLICE.as_nanos() as u64
                && thread_cpu_ns().saturating_sub(lane.cpu_at_poll.load(Ordering::Relaxed))
                    >= SLICE.as_nanos() as u64
            {
                history.still_heavy(starting);
            }
            let turns = history.turns.clone();
            UpdateDeadline::YieldCustom(
                1,
                Box::pin(async move {
                    drop(crate::lock(&lane.turn).take());
                    tokio::task::yield_now().await;
                    let turn = turns.acquire_owned().await.ok();
                    *crate::lock(&lane.turn) = turn;
                }),
            )
        }
        // Outside a lane: `yield_now` defers the wake-up until the thread
        // polled its I/O and timers.
        Err(_) => UpdateDeadline::YieldCustom(1, Box::pin(tokio::task::yield_now())),
    }
}

/// Pending once (waking itself), then ready.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

type LaneFuture<F> = tokio::task::futures::TaskLocalFuture<Arc<Lane>, F>;

enum Stage<F: Future> {
    Here(Pin<Box<LaneFuture<F>>>),
    Moved(tokio::task::JoinHandle<F::Output>),
    Gone,
}

/// A task that moves itself to the background pool when it runs long; see
/// [`offloadable`]. Dropping it cancels the task wherever it runs.
pub struct Offloadable<F: Future> {
    stage: Stage<F>,
    lane: Arc<Lane>,
}

impl<F> Future for Offloadable<F>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        loop {
            match &mut this.stage {
                Stage::Here(fut) => {
                    this.lane.polled_at.store(now_ns(), Ordering::Relaxed);
                    if let Poll::Ready(v) = fut.as_mut().poll(cx) {
                        this.stage = Stage::Gone;
                        return Poll::Ready(v);
                    }
                    if this.lane.state.load(Ordering::Acquire) != MOVING {
                        return Poll::Pending;
                    }
                    let Stage::Here(fut) = std::mem::replace(&mut this.stage, Stage::Gone) else {
                        unreachable!()
                    };
                    this.lane.state.store(BACKGROUND, Ordering::Release);
                    let lane = this.lane.clone();
                    this.stage = Stage::Moved(background().spawn(InBackground { fut, lane }));
                }
                Stage::Moved(handle) => {
                    return match Pin::new(handle).poll(cx) {
                        Poll::Pending => Poll::Pending,
                        Poll::Ready(Ok(v)) => {
                            this.stage = Stage::Gone;
                            Poll::Ready(v)
                        }
                        Poll::Ready(Err(e)) => match e.try_into_panic() {
                            Ok(panic) => std::panic::resume_unwind(panic),
                            // Only `Drop` aborts it, and the pool never shuts down.
                            Err(e) => panic!("a background plugin task was cancelled: {e}"),
                        },
                    };
                }
                Stage::Gone => panic!("`Offloadable` polled after it completed"),
            }
        }
    }
}

/// A task in the background: it gives its turn back whenever it waits.
struct InBackground<F: Future> {
    fut: Pin<Box<LaneFuture<F>>>,
    lane: Arc<Lane>,
}

impl<F: Future> Future for InBackground<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.lane.polled_at.store(now_ns(), Ordering::Relaxed);
        self.lane
            .cpu_at_poll
            .store(thread_cpu_ns(), Ordering::Relaxed);
        let r = self.fut.as_mut().poll(cx);
        if r.is_pending() {
            drop(crate::lock(&self.lane.turn).take());
        }
        r
    }
}

impl<F: Future> Drop for Offloadable<F> {
    fn drop(&mut self) {
        if let Stage::Moved(handle) = &self.stage {
            handle.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Burns `d` of the thread's CPU without yielding, like guest code
    /// between ticks.
    fn burn(d: Duration) {
        let t = thread_cpu_ns();
        while thread_cpu_ns() - t < d.as_nanos() as u64 {
            std::hint::spin_loop();
        }
    }

    /// Guest code that runs on, seen at ticks until one says where it goes
    /// (the first only notes it; on a busy test machine a burn preempted
    /// for long does not count, and the next tries again).
    fn run_on_until_ticked_off(h: &CpuHistory, starting: bool) -> UpdateDeadline {
        for _ in 0..200 {
            burn(SLICE * 2);
            let d = at_epoch_tick(h, starting);
            if matches!(d, UpdateDeadline::YieldCustom(..)) {
                return d;
            }
        }
        panic!("a call that ran on for 200 ticks was never moved");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_task_that_runs_long_moves_to_the_background() {
        let here = std::thread::current().id();
        let history = Arc::new(CpuHistory::default());
        let h = history.clone();
        let (moved, thread) = tokio::spawn(offloadable(async move {
            burn(SLICE * 2);
            // One tick cannot tell running from waiting for the CPU.
            let first = at_epoch_tick(&h, false);
            assert!(matches!(first, UpdateDeadline::Continue(1)));
            let d = run_on_until_ticked_off(&h, false);
            let moved = matches!(d, UpdateDeadline::YieldCustom(..));
            if let UpdateDeadline::YieldCustom(_, f) = d {
                f.await;
            }
            (moved, std::thread::current().id())
        }))
        .await
        .unwrap();
        assert!(moved);
        assert_ne!(
            thread, here,
            "the rest of the task ran on the background pool"
        );
        assert!(history.is_heavy(false));
        assert_eq!(history.moves(), 1);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_plugin_holds_at_most_its_share_of_background_threads() {
        let history = Arc::new(CpuHistory::default());
        let share = cores_per_plugin();
        let running = Arc::new(AtomicU64::new(0));
        // `share` calls hold their turns while running, and one more wants one.
        let mut tasks = Vec::new();
        let (ready_tx, mut ready_rx) = tokio::sync::mpsc::unbounded_channel();
        for _ in 0..share + 1 {
            let (h, running, ready) = (history.clone(), running.clone(), ready_tx.clone());
            tasks.push(tokio::spawn(offloadable(async move {
                offload().await;
                if let UpdateDeadline::YieldCustom(_, f) = at_epoch_tick(&h, false) {
                    f.await; // takes a turn
                }
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                let _ = ready.send(());
                burn(Duration::from_millis(100)); // runs, holding the turn
                running.fetch_sub(1, Ordering::SeqCst);
                now
            })));
        }
        drop(ready_tx);
        while ready_rx.recv().await.is_some() {}
        for t in tasks {
            let at_once = t.await.unwrap() as usize;
            assert!(
                at_once <= share,
                "{at_once} calls ran at once, share {share}"
            );
        }
    }

    /// A call whose caller's task moved already runs in the background from
    /// its start: it counts as a background call of its own plugin.
    #[tokio::test(flavor = "current_thread")]
    async fn a_call_in_a_task_that_moved_counts_as_a_background_call() {
        let (caller, callee) = (
            Arc::new(CpuHistory::default()),
            Arc::new(CpuHistory::default()),
        );
        let (c, h) = (caller.clone(), callee.clone());
        tokio::spawn(offloadable(async move {
            if let UpdateDeadline::YieldCustom(_, f) = run_on_until_ticked_off(&c, false) {
                f.await;
            }
            offload_if_heavy(&h, true).await;
        }))
        .await
        .unwrap();
        assert_eq!((caller.moves(), callee.moves()), (1, 1));
        // Outside the lane nothing is counted.
        offload_if_heavy(&callee, true).await;
        assert_eq!(callee.moves(), 1);
    }

    /// An instantiation that ran long moves like a call, but only the
    /// plugin's fresh instances start in the background afterwards: its
    /// calls on parked instances stay.
    #[tokio::test(flavor = "current_thread")]
    async fn a_slow_start_sends_only_fresh_instances_to_the_background() {
        let history = Arc::new(CpuHistory::default());
        let h = history.clone();
        tokio::spawn(offloadable(async move {
            if let UpdateDeadline::YieldCustom(_, f) = run_on_until_ticked_off(&h, true) {
                f.await;
            }
        }))
        .await
        .unwrap();
        assert!(history.is_heavy(true));
        assert!(!history.is_heavy(false));
        assert_eq!(history.moves(), 1);
    }

    /// One long call makes a plugin heavy; a short call that ends after
    /// it, with no long call meanwhile, makes it light again.
    #[tokio::test(flavor = "current_thread")]
    async fn a_short_call_after_a_long_one_brings_the_plugin_back() {
        let history = Arc::new(CpuHistory::default());
        let h = history.clone();
        tokio::spawn(offloadable(async move {
            if let UpdateDeadline::YieldCustom(_, f) = run_on_until_ticked_off(&h, false) {
                f.await;
            }
        }))
        .await
        .unwrap();
        assert!(history.is_heavy(false));
        // A short call that began before the long one's last tick.
        history.ended(0, false);
        assert!(history.is_heavy(false), "it overlapped a long call");
        history.ended(mark(), false);
        assert!(!history.is_heavy(false));
    }

    /// A thread preempted in the middle of a call (the machine is busy with
    /// other processes) has not run long: the call stays, and its plugin
    /// does not start its next calls in the background.
    #[tokio::test(flavor = "current_thread")]
    async fn a_call_that_waited_for_the_cpu_stays() {
        let here = std::thread::current().id();
        let history = Arc::new(CpuHistory::default());
        let h = history.clone();
        let (decisions, thread) = tokio::spawn(offloadable(async move {
            let mut decisions = Vec::new();
            for _ in 0..3 {
                // Off the CPU for three slices, as a preempted thread is.
                std::thread::sleep(SLICE * 3);
                decisions.push(matches!(
                    at_epoch_tick(&h, false),
                    UpdateDeadline::Continue(1)
                ));
            }
            (decisions, std::thread::current().id())
        }))
        .await
        .unwrap();
        assert_eq!(decisions, [true, true, true]);
        assert_eq!(thread, here);
        assert!(!history.is_heavy(false));
    }

    /// In the background (threads that yield to all others) a call that
    /// waited for the CPU does not keep its plugin heavy; one that ran does.
    #[tokio::test(flavor = "current_thread")]
    async fn in_the_background_only_running_keeps_a_plugin_heavy() {
        let history = Arc::new(CpuHistory::default());
        let h = history.clone();
        let (after_wait, after_run) = tokio::spawn(offloadable(async move {
            offload().await;
            std::thread::sleep(SLICE * 3);
            let d = at_epoch_tick(&h, false);
            let after_wait = h.is_heavy(false);
            if let UpdateDeadline::YieldCustom(_, f) = d {
                f.await;
            }
            burn(SLICE * 2);
            let _ = at_epoch_tick(&h, false);
            (after_wait, h.is_heavy(false))
        }))
        .await
        .unwrap();
        assert!(!after_wait, "waiting for the CPU made the plugin heavy");
        assert!(after_run);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_short_task_stays() {
        let here = std::thread::current().id();
        let history = Arc::new(CpuHistory::default());
        let h = history.clone();
        let (cont, thread) = tokio::spawn(offloadable(async move {
            let d = at_epoch_tick(&h, false);
            (
                matches!(d, UpdateDeadline::Continue(1)),
                std::thread::current().id(),
            )
        }))
        .await
        .unwrap();
        assert!(cont);
        assert_eq!(thread, here);
        assert!(!history.is_heavy(false));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn offload_moves_at_once_and_only_inside_a_lane() {
        let here = std::thread::current().id();
        offload().await; // outside a lane: nothing happens
        assert_eq!(std::thread::current().id(), here);
        let thread = tokio::spawn(offloadable(async {
            offload().await;
            offload().await; // already moved: no second move
            std::thread::current().id()
        }))
        .await
        .unwrap();
        assert_ne!(thread, here);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_panic_in_the_background_reaches_the_caller() {
        let r = tokio::spawn(offloadable(async {
            offload().await;
            panic!("boom");
        }))
        .await;
        assert!(r.unwrap_err().is_panic());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn dropping_a_moved_task_cancels_it() {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = offloadable(async move {
            offload().await;
            let _tx = tx; // dropped when the task is cancelled
            std::future::pending::<()>().await;
        });
        let mut task = Box::pin(task);
        // Poll until it moved.
        let _ = tokio::time::timeout(Duration::from_millis(50), &mut task).await;
        drop(task);
        assert!(rx.await.is_err(), "the background task was cancelled");
    }
}
