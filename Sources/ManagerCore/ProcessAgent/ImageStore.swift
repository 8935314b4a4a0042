import CProcess
import Foundation
import Glibc
import SchedulerKit

/// The root filesystems imported on this agent (`manager image import`): `<root>/<image>/rootfs`, one folder per
/// `name:tag` (escaped so that no reference leaves the store).
struct ImageStore: Sendable {
    let root: String

    func folder(for image: ImageReference) -> String {
        SandboxArguments.join(self.root, image.storeFolder)
    }

    /// The image's root folder when it is imported here.
    func rootfs(for text: String?) -> String? {
        guard let text, let image = ImageReference(text) else { return nil }
        let path = self.folder(for: image) + "/rootfs"
        var info = cproc_stat()
        guard cproc_stat_path(path, 0, &info) == 0, cproc_file_kind(info.mode) == 1 else { return nil }
        return path
    }
}
