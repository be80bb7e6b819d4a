//! The example consumer service: reads a topic in a group and serves the last 1000 messages
//! over HTTP (see README.md).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    weir_examples::init_tracing();
    weir_examples::consumer::run(weir_examples::Env::from_env(3002)?).await
}
