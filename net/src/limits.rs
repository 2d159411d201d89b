//! Process-wide settings a network service needs: the descriptor limit, and how the allocator
//! treats large buffers.

/// Lifts the soft limit on open descriptors to the hard limit. Every connection holds one, and
/// the usual soft default (1024) would cap a server, or a load generator, at about a thousand
/// clients. Failure is harmless: the process keeps the limit it had.
pub fn raise_fd_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct passed to them.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// Makes the allocator hand large blocks (1 MiB and up) straight back to the system when they are
/// freed. Each password check (argon2id) borrows 19 MiB for a few milliseconds; glibc otherwise
/// raises its mmap threshold after the first such block and keeps later ones in per-thread
/// arenas, so a burst of first logins on many blocking threads left hundreds of MiB resident for
/// good. No-op where the C library is not glibc.
pub fn release_large_allocations() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tuning; M_MMAP_THRESHOLD takes a byte count.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1024 * 1024);
    }
}
