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

fn main() -> ExitCode {
    let cli = scimgate::cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
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
