#ifndef CPROCESS_H
#define CPROCESS_H
#include <spawn.h>
#include <stdint.h>

/// posix_spawn_file_actions_addclosefrom_np (glibc 2.34+, hidden behind _GNU_SOURCE): the child gets no
/// descriptor from `lowest` up. -1 (ENOSYS) where the libc lacks it.
int cproc_spawn_closefrom(posix_spawn_file_actions_t *actions, int lowest);

/// pipe2(O_CLOEXEC); 0 or -1 with errno.
int cproc_pipe_cloexec(int fds[2]);

/// What the agent needs of stat(2): the type and permission bits, the owner and the size. `follow` = 0 is lstat.
typedef struct {
    uint32_t mode;
    uint32_t uid;
    int64_t size;
} cproc_stat;

int cproc_stat_path(const char *path, int follow, cproc_stat *out);

/// S_IFMT parts of `mode`: 1 directory, 2 regular file, 3 symbolic link, 0 anything else.
int cproc_file_kind(uint32_t mode);

#endif
