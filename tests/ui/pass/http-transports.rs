use persist_core::http::HttpClient;
use persist_core::prelude::*;

#[persistence_test(agents = ["A"], http = "socket")]
async fn one_transport(http: HttpClient, gateway: GatewayPersistenceAdapter) {
    let _ = (http, gateway);
}

#[persistence_test(agents = ["A"], http = ["direct", "router", "socket"], backends = ["sqlite", "sqlite-memory"])]
#[case("hi")]
#[case("hello")]
async fn every_combination(#[case] text: &str, gateway: GatewayPersistenceAdapter) {
    let _ = (text, gateway);
}

fn main() {}
