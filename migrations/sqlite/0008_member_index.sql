-- The groups of a member, read when a user is deleted (every group it leaves
-- gets a new version) and when a user's representation lists its groups:
-- with group_id in the index the lookup never touches the table, and the
-- planner no longer prefers scanning the tenant's whole membership table
-- through the primary key.
DROP INDEX scim_group_members_member;
CREATE INDEX scim_group_members_member ON scim_group_members (tenant_id, member_id, group_id);
