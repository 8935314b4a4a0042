// The kernel copy paths and stat handling a tree copy needs: copy_file_range is hidden behind _GNU_SOURCE,
// ioctl is variadic, and `struct stat` is not reliably visible from Swift 6 with MemberImportVisibility.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cfilecopy.h"

#ifndef FICLONE
#define FICLONE _IOW(0x94, 9, int)
#endif

static void fill(const struct stat *st, cfc_stat *out) {
    out->mode = st->st_mode;
    out->size = st->st_size;
    out->uid = st->st_uid;
    out->gid = st->st_gid;
    out->atime_sec = st->st_atim.tv_sec;
    out->atime_nsec = st->st_atim.tv_nsec;
    out->mtime_sec = st->st_mtim.tv_sec;
    out->mtime_nsec = st->st_mtim.tv_nsec;
}

int cfc_lstatat(int dirfd, const char *name, cfc_stat *out) {
    struct stat st;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) return -1;
    fill(&st, out);
    return 0;
}

int cfc_fstat(int fd, cfc_stat *out) {
    struct stat st;
    if (fstat(fd, &st) != 0) return -1;
    fill(&st, out);
    return 0;
}

static void times_of(const cfc_stat *info, struct timespec times[2]) {
    times[0].tv_sec = info->atime_sec;
    times[0].tv_nsec = info->atime_nsec;
    times[1].tv_sec = info->mtime_sec;
    times[1].tv_nsec = info->mtime_nsec;
}

void cfc_apply_attributes(int fd, const cfc_stat *info, int set_owner) {
    struct timespec times[2];
    if (set_owner) (void)fchown(fd, info->uid, info->gid);
    (void)fchmod(fd, info->mode & 07777);
    times_of(info, times);
    (void)futimens(fd, times);
}

void cfc_apply_link_times(int dirfd, const char *name, const cfc_stat *info) {
    struct timespec times[2];
    times_of(info, times);
    (void)utimensat(dirfd, name, times, AT_SYMLINK_NOFOLLOW);
}

ssize_t cfc_copy_file_range(int in_fd, int out_fd, size_t length) {
    return copy_file_range(in_fd, NULL, out_fd, NULL, length, 0);
}

int cfc_clone_file(int destination_fd, int source_fd) {
    return ioctl(destination_fd, FICLONE, source_fd);
}
