-- Sharing vfolders (Backend.AI's vfolder_invitations and vfolder_permissions): an owner invites users to a personal
-- folder; an accepted invitation, or an admin's `share` of a project folder, gives a user a permission of their
-- own on the folder ('ro', 'rw', 'wd'), which overrides the folder's for that user.
CREATE TABLE vfolder_invitations (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    vfolder     uuid NOT NULL REFERENCES vfolders (id) ON DELETE CASCADE,
    inviter     text NOT NULL,
    invitee     text NOT NULL,
    permission  text NOT NULL CHECK (permission IN ('ro', 'rw', 'wd')),
    state       text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'accepted', 'rejected', 'canceled')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    modified_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX vfolder_invitations_pending ON vfolder_invitations (vfolder, invitee) WHERE state = 'pending';
CREATE INDEX vfolder_invitations_by_invitee ON vfolder_invitations (invitee) WHERE state = 'pending';

CREATE TABLE vfolder_permissions (
    vfolder    uuid NOT NULL REFERENCES vfolders (id) ON DELETE CASCADE,
    user_id    uuid NOT NULL REFERENCES users (uuid) ON DELETE CASCADE,
    permission text NOT NULL CHECK (permission IN ('ro', 'rw', 'wd')),
    PRIMARY KEY (vfolder, user_id)
);
CREATE INDEX vfolder_permissions_by_user ON vfolder_permissions (user_id);
