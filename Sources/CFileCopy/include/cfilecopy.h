#ifndef CFILECOPY_H
#define CFILECOPY_H
#include <stdint.h>
#include <sys/types.h>

/// What a tree copy needs of `struct stat`, in a type of this module (Swift resolves libc's `struct stat` to
/// different modules in debug and release builds).
typedef struct {
    uint32_t mode;      // st_mode: type and permission bits
    int64_t size;
    uint32_t uid;
    uint32_t gid;
    int64_t atime_sec;
    int64_t atime_nsec;
    int64_t mtime_sec;
    int64_t mtime_nsec;
} cfc_stat;

/// fstatat(dirfd, name, AT_SYMLINK_NOFOLLOW); 0 or -1 with errno.
int cfc_lstatat(int dirfd, const char *name, cfc_stat *out);

/// fstat(fd); 0 or -1 with errno.
int cfc_fstat(int fd, cfc_stat *out);

/// Owner (when `set_owner`), permission bits and times of `info` onto an open descriptor, as `cp -a`; errors ignored.
void cfc_apply_attributes(int fd, const cfc_stat *info, int set_owner);

/// The times of `info` onto a symbolic link itself (utimensat with AT_SYMLINK_NOFOLLOW); errors ignored.
void cfc_apply_link_times(int dirfd, const char *name, const cfc_stat *info);

/// copy_file_range(2) between two descriptors at their current offsets; -1 with errno on failure.
ssize_t cfc_copy_file_range(int in_fd, int out_fd, size_t length);

/// A reflink clone of a whole file (ioctl FICLONE); 0 on success, -1 with errno where unsupported.
int cfc_clone_file(int destination_fd, int source_fd);

#endif
