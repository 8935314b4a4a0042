#ifndef CFILECOPY_H
#define CFILECOPY_H
#include <stdint.h>
#include <sys/types.h>

/// copy_file_range(2) between two descriptors at their current offsets; -1 with errno on failure.
ssize_t cfc_copy_file_range(int in_fd, int out_fd, size_t length);

/// A reflink clone of a whole file (ioctl FICLONE); 0 on success, -1 with errno where unsupported.
int cfc_clone_file(int destination_fd, int source_fd);

#endif
