"""Channel adapters: deliver delivery commands to providers, exactly once per ``delivery_id`` where the
provider allows it, with retries, rate limits, expiry and receipts (see ``docs/adapters.md``)."""
