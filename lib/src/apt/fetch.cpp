#include "apt/fetch.hpp"

#include "apt/decode.hpp"

#include <algorithm>

namespace ocibake::apt::detail {

namespace {

/// Downloads one package into the store, checked by size and sha256 as it streams.
void fetch_deb(Store& store, http::Client& client, const LockedPackage& p) {
    BlobWriter blob = store.new_blob();
    http::Request r;
    r.url = p.url;
    std::string what = describe(p);
    try {
        client.download(
            r, [&](const char* data, std::size_t size) { blob.write(data, size); }, p.size);
    } catch (const http::HttpError& e) {
        std::string msg = e.what();
        if (e.kind() == ErrorKind::integrity && msg.find("expected") != std::string::npos) {
            throw Error(ErrorKind::integrity,
                        what + ": " + p.url + ": the server sent " + std::to_string(blob.size()) +
                            " bytes, the lock pins " + std::to_string(p.size));
        }
        throw Error(e.kind(), what + ": " + msg);
    }
    try {
        blob.commit(p.sha256);
    } catch (const Error& e) {
        if (e.kind() != ErrorKind::integrity) {
            throw;
        }
        throw Error(ErrorKind::integrity,
                    what + ": " + p.url + ": the file does not match the lock's sha256 (" +
                        p.sha256.str() + "); it was changed on the server, or in transit");
    }
}

} // namespace

std::vector<std::shared_future<void>> start_fetches(Store& store, http::Client& client,
                                                    const std::vector<LockedPackage>& packages,
                                                    ocibake::detail::ThreadPool& pool) {
    std::vector<std::shared_future<void>> out;
    for (const LockedPackage& p : packages) {
        if (store.has_blob(p.sha256)) {
            std::promise<void> done;
            done.set_value();
            out.push_back(done.get_future().share());
        } else {
            out.push_back(
                pool.submit([&store, &client, &p] { fetch_deb(store, client, p); }).share());
        }
    }
    return out;
}

void fetch_debs(Store& store, http::Client& client, const std::vector<LockedPackage>& packages,
                unsigned parallel) {
    std::vector<std::shared_future<void>> done;
    {
        ocibake::detail::ThreadPool pool(std::max(1u, parallel));
        done = start_fetches(store, client, packages, pool);
    }
    for (auto& f : done) {
        f.get(); // the first failure in the lock's order
    }
}

} // namespace ocibake::apt::detail
