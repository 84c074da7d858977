"""Internal push messages between agencies (内部信息推送) about an entity, a record or a warning."""
