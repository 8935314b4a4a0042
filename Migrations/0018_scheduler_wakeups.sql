-- Every change that can alter a scheduling pass's outcome wakes the schedulers of every replica, whatever code (or
-- operator) made it: the scheduler skips passes over a queue nothing changed (`PassSchedule`), so it must hear of
-- options, policies, quotas and agents changing. NOTIFY is sent at commit, once per transaction for one payload.
-- Enqueues and status changes already notify (with their scaling group) from the statements that make them.
CREATE FUNCTION scheduler_wakeup_all() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('scheduler_wakeup', '*');
    RETURN NULL;
END $$;

CREATE TRIGGER scaling_groups_wake AFTER INSERT OR UPDATE OR DELETE ON scaling_groups
    FOR EACH STATEMENT EXECUTE FUNCTION scheduler_wakeup_all();
CREATE TRIGGER keypair_resource_policies_wake AFTER INSERT OR UPDATE OR DELETE ON keypair_resource_policies
    FOR EACH STATEMENT EXECUTE FUNCTION scheduler_wakeup_all();
CREATE TRIGGER keypairs_wake AFTER INSERT OR UPDATE OR DELETE ON keypairs
    FOR EACH STATEMENT EXECUTE FUNCTION scheduler_wakeup_all();
CREATE TRIGGER groups_wake AFTER INSERT OR UPDATE OR DELETE ON groups
    FOR EACH STATEMENT EXECUTE FUNCTION scheduler_wakeup_all();
CREATE TRIGGER domains_wake AFTER INSERT OR UPDATE OR DELETE ON domains
    FOR EACH STATEMENT EXECUTE FUNCTION scheduler_wakeup_all();
CREATE TRIGGER sgroups_for_domains_wake AFTER INSERT OR UPDATE OR DELETE ON sgroups_for_domains
    FOR EACH STATEMENT EXECUTE FUNCTION scheduler_wakeup_all();
CREATE TRIGGER sgroups_for_groups_wake AFTER INSERT OR UPDATE OR DELETE ON sgroups_for_groups
    FOR EACH STATEMENT EXECUTE FUNCTION scheduler_wakeup_all();

-- Agents: joining, leaving, capacity, schedulability, group. Heartbeats rewrite the same values every few seconds;
-- the WHEN clause lets those pass without a wake-up.
CREATE TRIGGER agents_wake_rows AFTER INSERT OR DELETE ON agents
    FOR EACH STATEMENT EXECUTE FUNCTION scheduler_wakeup_all();
CREATE TRIGGER agents_wake AFTER UPDATE OF status, schedulable, available_slots, scaling_group, architecture ON agents
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.schedulable IS DISTINCT FROM NEW.schedulable
                       OR OLD.available_slots IS DISTINCT FROM NEW.available_slots
                       OR OLD.scaling_group IS DISTINCT FROM NEW.scaling_group
                       OR OLD.architecture IS DISTINCT FROM NEW.architecture)
    EXECUTE FUNCTION scheduler_wakeup_all();
