#include "support/tar.hpp"

#include "ocibake/image.hpp"
#include "ocibake/oci.hpp"

#include <catch2/catch.hpp>

#include <archive.h>
#include <archive_entry.h>

#include <memory>

namespace ocibake::test {

namespace {

using Entry = std::unique_ptr<archive_entry, void (*)(archive_entry*)>;

la_ssize_t append_to_string(archive*, void* opaque, const void* data, size_t size) {
    static_cast<std::string*>(opaque)->append(static_cast<const char*>(data), size);
    return static_cast<la_ssize_t>(size);
}

void set_type(archive_entry* e, const TarItem& item) {
    switch (item.type) {
    case 'd':
        archive_entry_set_filetype(e, AE_IFDIR);
        break;
    case 'l':
        archive_entry_set_filetype(e, AE_IFLNK);
        archive_entry_set_symlink(e, item.data.c_str());
        break;
    case 'h':
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_hardlink(e, item.data.c_str());
        break;
    case 'p':
        archive_entry_set_filetype(e, AE_IFIFO);
        break;
    case 'c':
        archive_entry_set_filetype(e, AE_IFCHR);
        archive_entry_set_rdevmajor(e, item.dev_major);
        archive_entry_set_rdevminor(e, item.dev_minor);
        break;
    default:
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_size(e, static_cast<la_int64_t>(item.data.size()));
    }
}

char type_of(archive_entry* e) {
    if (archive_entry_hardlink(e) != nullptr) {
        return '1';
    }
    switch (archive_entry_filetype(e)) {
    case AE_IFLNK:
        return '2';
    case AE_IFDIR:
        return '5';
    case AE_IFIFO:
        return '6';
    default:
        return '0';
    }
}

} // namespace

ArchiveWriter archive_writer(std::string& out, int (*format)(archive*), int (*filter)(archive*)) {
    ArchiveWriter a(archive_write_new(), archive_write_free);
    format(a.get());
    if (filter != nullptr) {
        filter(a.get());
    }
    archive_write_set_bytes_in_last_block(a.get(), 1);
    REQUIRE(archive_write_open(a.get(), &out, nullptr, append_to_string, nullptr) == ARCHIVE_OK);
    return a;
}

std::string make_tar(const std::vector<TarItem>& items) {
    std::string out;
    ArchiveWriter a = archive_writer(out, archive_write_set_format_pax_restricted);
    for (const TarItem& item : items) {
        Entry e(archive_entry_new(), archive_entry_free);
        archive_entry_set_pathname(e.get(), item.path.c_str());
        archive_entry_set_perm(e.get(), item.mode);
        archive_entry_set_uid(e.get(), item.uid);
        archive_entry_set_gid(e.get(), item.gid);
        archive_entry_set_mtime(e.get(), item.mtime, 0);
        set_type(e.get(), item);
        REQUIRE(archive_write_header(a.get(), e.get()) == ARCHIVE_OK);
        if (item.type == 'f' && !item.data.empty()) {
            REQUIRE(archive_write_data(a.get(), item.data.data(), item.data.size()) ==
                    static_cast<la_ssize_t>(item.data.size()));
        }
    }
    REQUIRE(archive_write_close(a.get()) == ARCHIVE_OK);
    return out;
}

std::string marker_tar(const std::vector<std::string>& names) {
    std::vector<TarItem> items;
    for (const std::string& name : names) {
        bool dir = name.ends_with('/');
        items.emplace_back(name, dir ? 'd' : 'f', "", dir ? 0755 : 0644);
    }
    return make_tar(items);
}

std::string archive_of(int (*format)(archive*),
                       const std::vector<std::pair<std::string, std::string>>& files) {
    std::string out;
    ArchiveWriter a = archive_writer(out, format);
    for (const auto& [name, content] : files) {
        Entry e(archive_entry_new(), archive_entry_free);
        archive_entry_set_pathname(e.get(), name.c_str());
        archive_entry_set_filetype(e.get(), AE_IFREG);
        archive_entry_set_perm(e.get(), 0644);
        archive_entry_set_size(e.get(), static_cast<la_int64_t>(content.size()));
        REQUIRE(archive_write_header(a.get(), e.get()) == ARCHIVE_OK);
        REQUIRE(archive_write_data(a.get(), content.data(), content.size()) ==
                static_cast<la_ssize_t>(content.size()));
    }
    REQUIRE(archive_write_close(a.get()) == ARCHIVE_OK);
    return out;
}

std::string tar_of(const std::vector<std::pair<std::string, std::string>>& files) {
    return archive_of(archive_write_set_format_ustar, files);
}

LayerResult put_tar_layer(Store& store, const std::string& tar) {
    LayerResult l;
    l.descriptor.media_type = std::string(oci::media_type::layer_tar);
    l.descriptor.digest = store.put_bytes(tar);
    l.descriptor.size = tar.size();
    l.diff_id = l.descriptor.digest;
    return l;
}

BuiltImage write_with_layer(Store& store, const std::filesystem::path& base, const std::string& tar,
                            const std::filesystem::path& out) {
    SourceImage below = load_image(store, base.string());
    Image image;
    image.config = below.config;
    for (const LayerResult& l : below.layers) {
        image.layers.push_back({l, std::nullopt});
    }
    image.add_layer(put_tar_layer(store, tar), "whiteouts");
    BuiltImage built = assemble_image(store, image);
    write_image(store, built, OutputTarget::parse("oci:" + out.string()), "t", "v1");
    return built;
}

std::vector<TarEntry> read_tar(const std::filesystem::path& blob) {
    std::unique_ptr<archive, int (*)(archive*)> a(archive_read_new(), archive_read_free);
    archive_read_support_format_tar(a.get());
    archive_read_support_filter_all(a.get());
    REQUIRE(archive_read_open_filename(a.get(), blob.c_str(), 65536) == ARCHIVE_OK);
    std::vector<TarEntry> out;
    archive_entry* e = nullptr;
    while (archive_read_next_header(a.get(), &e) == ARCHIVE_OK) {
        TarEntry t;
        t.path = archive_entry_pathname(e);
        t.mode = archive_entry_perm(e);
        t.uid = archive_entry_uid(e);
        t.gid = archive_entry_gid(e);
        t.mtime = archive_entry_mtime(e);
        t.uname = archive_entry_uname(e) ? archive_entry_uname(e) : "";
        t.gname = archive_entry_gname(e) ? archive_entry_gname(e) : "";
        t.type = type_of(e);
        if (t.type == '1') {
            t.link = archive_entry_hardlink(e);
        } else if (t.type == '2') {
            t.link = archive_entry_symlink(e);
        }
        const char* name = nullptr;
        const void* value = nullptr;
        size_t size = 0;
        archive_entry_xattr_reset(e);
        while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
            t.xattrs[name] = std::string(static_cast<const char*>(value), size);
        }
        char buf[65536];
        la_ssize_t n;
        while ((n = archive_read_data(a.get(), buf, sizeof buf)) > 0) {
            t.data.append(buf, static_cast<size_t>(n));
        }
        out.push_back(t);
    }
    return out;
}

} // namespace ocibake::test
