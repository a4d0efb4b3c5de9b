use persist_core::prelude::*;

struct Suite;

impl Suite {
    #[persistence_test]
    async fn method(&self, gateway: GatewayPersistenceAdapter) {
        let _ = gateway;
    }
}

fn main() {}
