// The process and descriptor calls the agent needs that Swift cannot see: glibc hides them behind _GNU_SOURCE,
// and `struct stat` is not reliably visible from Swift 6 with MemberImportVisibility.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cprocess.h"

int cproc_spawn_closefrom(posix_spawn_file_actions_t *actions, int lowest) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
    return posix_spawn_file_actions_addclosefrom_np(actions, lowest);
#else
    (void)actions; (void)lowest;
    errno = ENOSYS;
    return -1;
#endif
}

int cproc_pipe_cloexec(int fds[2]) {
    return pipe2(fds, O_CLOEXEC);
}

int cproc_stat_path(const char *path, int follow, cproc_stat *out) {
    struct stat st;
    int result = follow ? stat(path, &st) : lstat(path, &st);
    if (result != 0) return -1;
    out->mode = st.st_mode;
    out->uid = st.st_uid;
    out->size = st.st_size;
    return 0;
}

int cproc_file_kind(uint32_t mode) {
    switch (mode & S_IFMT) {
    case S_IFDIR: return 1;
    case S_IFREG: return 2;
    case S_IFLNK: return 3;
    default: return 0;
    }
}
