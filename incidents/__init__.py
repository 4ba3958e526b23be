"""winterops incidents layer: model, storage, fusion, priority, dispatch, audit, CLI."""
