//! Process limits a network service needs lifted.

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
