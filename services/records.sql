-- A write's audit row and outbox event, written in the statement of the write
-- itself: the kit piece every one-statement write shares (marriage booking, lottery
-- entry, the draw's winners), called last, so that the rows, their audit row and
-- their outbox event commit or vanish together; `audit.insert` writes every other
-- audit row through it too. The rows are shaped by `audit.row()` and
-- `outbox.Events.row()`, turned into the two JSON arguments by `audit.as_json` and
-- `outbox.as_json`. (An event of the generic routes goes in through
-- `outbox.Events.emit`, in the request's transaction.)
--
-- p_audits: a JSON array of audit rows, each an object of audit_event's columns
-- (`id`, `at`, `actor_kind`, `actor_id`, `actor_role`, `org_id`, `action`,
-- `object_type`, `object_id`, `outcome`, `request_id`, `client_addr`,
-- `delegation_id`); the chain's columns are filled by its trigger. p_events: a JSON array of outbox events (outbox_event's
-- columns), or NULL for none.
CREATE OR REPLACE FUNCTION public.record_writes(p_audits json, p_events json)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO audit_event (id, at, actor_kind, actor_id, actor_role, org_id, action,
                           object_type, object_id, outcome, request_id, client_addr,
                           delegation_id)
  SELECT a.id, a.at, a.actor_kind, a.actor_id, a.actor_role, a.org_id, a.action,
         a.object_type, a.object_id, a.outcome, a.request_id, a.client_addr,
         a.delegation_id
  FROM json_populate_recordset(NULL::audit_event, p_audits) AS a;
  IF p_events IS NOT NULL THEN
    INSERT INTO outbox_event (id, type, object_type, object_id, org_id, division_code,
                              subject, data, created_at)
    SELECT e.id, e.type, e.object_type, e.object_id, e.org_id, e.division_code,
           e.subject, e.data, e.created_at
    FROM json_populate_recordset(NULL::outbox_event, p_events) AS e;
  END IF;
END $$;
