/*
 * proclocks.h - whether this process holds a POSIX lock on a file
 * (proclocks.c).
 */
#ifndef KMC_VAULT_PROCLOCKS_H
#define KMC_VAULT_PROCLOCKS_H
#include <sys/types.h>

/* 1 when one line of /proc/locks is a POSIX lock of pid on (dev, ino). */
int proc_locks_line_holds(const char *line, pid_t pid, dev_t dev, ino_t ino);

/* 1 when this process holds a POSIX lock on (dev, ino); 0 when not, or
   when /proc/self/fd cannot be read. */
int proc_holds_lock(dev_t dev, ino_t ino);

#endif
