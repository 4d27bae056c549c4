use std::process::ExitCode;
use std::time::Duration;

use clap::Parser as _;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How often freed memory is handed back to the operating system.
const COLLECT_EVERY: Duration = Duration::from_secs(5);

/// Every few seconds, the allocator returns the pages freed since (mimalloc
/// otherwise purges freed memory only as threads go on allocating, so after
/// a burst — a provisioning cycle, a large listing — the process's own
/// memory, `RssAnon`, would stay at its peak while the server sits idle).
/// The purge of freed pages is process-wide; only the calling thread's
/// cached pages are collected besides.
async fn give_back_memory() {
    let mut tick = tokio::time::interval(COLLECT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        // SAFETY: mi_collect takes no pointers; it walks the allocator's
        // own state.
        #[allow(unsafe_code)]
        unsafe {
            libmimalloc_sys::mi_collect(true)
        };
    }
}

/// How often a worker thread that goes idle hands back its own cached
/// pages, at most.
const COLLECT_IDLE_EVERY: Duration = Duration::from_secs(1);

/// When a worker thread of the async runtime runs out of work: the pages
/// it freed stay cached in its own heap until it allocates again, which an
/// idle server's workers may not do for hours, so it hands them back now
/// (at most once a second, so that a busy server's many short idle spells
/// cost nothing measurable). Writes and their statements run on these
/// threads, so after a provisioning cycle most freed memory is theirs.
fn collect_when_idle() {
    thread_local! {
        static LAST: std::cell::Cell<Option<std::time::Instant>> =
            const { std::cell::Cell::new(None) };
    }
    LAST.with(|last| {
        let now = std::time::Instant::now();
        if last
            .get()
            .is_none_or(|at| now.duration_since(at) >= COLLECT_IDLE_EVERY)
        {
            last.set(Some(now));
            // SAFETY: as in `give_back_memory`.
            #[allow(unsafe_code)]
            unsafe {
                libmimalloc_sys::mi_collect(false)
            };
        }
    });
}

fn main() -> ExitCode {
    let cli = scimgate::cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .on_thread_park(collect_when_idle)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.spawn(give_back_memory());
    runtime.block_on(async {
        scimgate::cli::init_tracing(cli.log_format);
        match scimgate::cli::run(cli).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        }
    })
}
