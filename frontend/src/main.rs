fn main() {
    winrelay_frontend::start();
}
