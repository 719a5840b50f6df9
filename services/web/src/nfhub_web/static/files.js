// The Files page's uploads: each file goes straight from the browser to the files service's
// signed URLs (web hands out the URLs; the bytes and the user's token never meet). Files above
// the page's threshold go up in parts; a multipart upload's id is kept in localStorage so that,
// after a reload, picking the same file again uploads only the parts the store does not hold.
// Names are written with textContent only: a file name is never read as HTML.
(function () {
  "use strict";
  var root = document.getElementById("uploads");
  if (!root) {
    return;
  }
  var folder = root.dataset.folder || "";
  var multipartBytes = Number(root.dataset.multipartBytes);
  var storeKey = "nfhub.uploads." + root.dataset.project;
  var headers = JSON.parse(document.body.getAttribute("hx-headers") || "{}");
  var csrf = headers["X-CSRF-Token"] || "";
  var list = document.getElementById("upload-list");
  var resumable = document.getElementById("resumable");
  var resumableList = document.getElementById("resumable-list");
  // Headers a script may not set (the browser sends them itself).
  var FORBIDDEN = { "content-length": true, host: true };

  function Refusal(status, detail) {
    this.status = status;
    this.message = detail;
  }

  function readProblem(status, text) {
    try {
      var body = JSON.parse(text);
      if (body && body.detail) {
        // problem+json: its title and detail, and what it says of each field.
        var said = [body.title ? body.title + ": " + body.detail : body.detail];
        (body.errors || []).forEach(function (error) {
          said.push(error.field ? error.field + ": " + error.message : error.message);
        });
        return new Refusal(status, said.join(" "));
      }
    } catch (ignored) {
      // not JSON: a page, or nothing
    }
    if (status === 0) {
      return new Refusal(0, "The upload was interrupted (network error).");
    }
    return new Refusal(status, "Refused (" + status + "): reload the page and try again.");
  }

  function callWeb(method, url, body) {
    var init = {
      method: method,
      credentials: "same-origin",
      redirect: "error",
      headers: { Accept: "application/json", "X-CSRF-Token": csrf }
    };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(url, init).then(
      function (response) {
        return response.text().then(function (text) {
          if (!response.ok) {
            throw readProblem(response.status, text);
          }
          return text ? JSON.parse(text) : null;
        });
      },
      function () {
        throw new Refusal(0, "Your login has ended or web does not answer: reload the page.");
      }
    );
  }

  // One PUT to a signed URL, with upload progress (fetch has none): resolves with its ETag.
  function put(signed, blob, onProgress) {
    return new Promise(function (resolve, reject) {
      var xhr = new XMLHttpRequest();
      xhr.open(signed.method || "PUT", signed.url);
      Object.keys(signed.headers || {}).forEach(function (name) {
        if (!FORBIDDEN[name.toLowerCase()]) {
          xhr.setRequestHeader(name, signed.headers[name]);
        }
      });
      xhr.upload.onprogress = function (event) {
        onProgress(event.loaded);
      };
      xhr.onload = function () {
        if (xhr.status >= 200 && xhr.status < 300) {
          onProgress(blob.size);
          resolve(xhr.getResponseHeader("ETag"));
        } else {
          reject(readProblem(xhr.status, xhr.responseText));
        }
      };
      xhr.onerror = function () {
        reject(readProblem(0, ""));
      };
      xhr.send(blob);
    });
  }

  function remembered() {
    try {
      return JSON.parse(window.localStorage.getItem(storeKey) || "{}");
    } catch (ignored) {
      return {};
    }
  }

  function remember(upload) {
    var all = remembered();
    all[upload.id] = upload;
    window.localStorage.setItem(storeKey, JSON.stringify(all));
  }

  function forget(uploadId) {
    var all = remembered();
    delete all[uploadId];
    window.localStorage.setItem(storeKey, JSON.stringify(all));
  }

  // A row of the uploads list: the path, a progress bar, what became of it.
  function progressRow(path, into) {
    var item = document.createElement("li");
    var name = document.createElement("span");
    name.className = "upload-name";
    name.textContent = path;
    var bar = document.createElement("progress");
    bar.max = 100;
    bar.value = 0;
    bar.setAttribute("aria-label", "Upload of " + path);
    var status = document.createElement("span");
    status.className = "upload-status";
    status.setAttribute("role", "status");
    status.textContent = "Waiting";
    item.append(name, bar, status);
    (into || list).append(item);
    return {
      item: item,
      progress: function (done, total) {
        bar.value = total ? Math.min(100, Math.floor((100 * done) / total)) : 100;
        status.textContent = bar.value + "%";
      },
      finish: function () {
        bar.value = 100;
        item.dataset.state = "done";
        status.textContent = "Uploaded";
      },
      fail: function (refusal) {
        item.dataset.state = "failed";
        status.className = "upload-error";
        status.textContent = refusal.message || String(refusal);
      }
    };
  }

  function uploadWhole(file, path, row) {
    var start = { path: path, size: file.size, content_type: file.type || null };
    return callWeb("POST", "/files/uploads", start).then(function (signed) {
      return put(signed, file, function (loaded) {
        row.progress(loaded, file.size);
      });
    });
  }

  // Uploads the parts the files API lists as missing, one after another, then completes.
  function uploadParts(file, upload, row) {
    var etags = {};
    var held = 0;
    upload.uploaded_parts.forEach(function (part) {
      etags[part.part_number] = part.etag;
      held += part.size;
    });
    row.progress(held, file.size);
    var chain = Promise.resolve();
    upload.parts.forEach(function (part) {
      chain = chain.then(function () {
        var begin = (part.part_number - 1) * upload.part_size;
        var blob = file.slice(begin, begin + part.size);
        return put(part, blob, function (loaded) {
          row.progress(held + loaded, file.size);
        }).then(function (etag) {
          if (!etag) {
            throw new Refusal(0, "The files service did not expose the part's ETag (CORS).");
          }
          etags[part.part_number] = etag;
          held += part.size;
        });
      });
    });
    return chain.then(function () {
      var parts = Object.keys(etags).map(function (number) {
        return { part_number: Number(number), etag: etags[number] };
      });
      parts.sort(function (a, b) {
        return a.part_number - b.part_number;
      });
      return callWeb("POST", "/files/uploads/multipart/" + upload.id + "/complete", {
        parts: parts
      });
    }).then(function () {
      forget(upload.id);
    });
  }

  // The files API allows 10,000 parts: past that, it picks the part size itself.
  var MAX_PARTS = 10000;

  function uploadInParts(file, path, row) {
    var start = { path: path, size: file.size, content_type: file.type || null };
    if (file.size <= multipartBytes * MAX_PARTS) {
      start.part_size = multipartBytes;
    }
    return callWeb("POST", "/files/uploads/multipart", start).then(function (upload) {
      remember({
        id: upload.id,
        path: upload.path,
        name: file.name,
        size: file.size,
        lastModified: file.lastModified
      });
      return uploadParts(file, upload, row);
    });
  }

  function uploadOne(file, path) {
    var row = progressRow(path);
    var upload = file.size > multipartBytes ? uploadInParts : uploadWhole;
    return upload(file, path, row).then(
      function () {
        row.finish();
      },
      function (refusal) {
        row.fail(refusal);
      }
    );
  }

  function changed() {
    document.body.dispatchEvent(new CustomEvent("files-changed"));
  }

  // One file after another: the machine's upload bandwidth is one pipe anyway, and the rows
  // fill in order.
  function uploadAll(files) {
    var chain = Promise.resolve();
    Array.prototype.forEach.call(files, function (file) {
      var relative = file.webkitRelativePath || file.name;
      chain = chain.then(function () {
        return uploadOne(file, folder + relative);
      });
    });
    return chain.then(changed);
  }

  function resume(saved, file, row) {
    if (file.size !== saved.size || file.name !== saved.name) {
      return Promise.reject(
        new Refusal(0, "That is not the same file (" + saved.name + ", " + saved.size + " bytes).")
      );
    }
    return callWeb("GET", "/files/uploads/multipart/" + saved.id).then(function (upload) {
      if (upload.status !== "uploading") {
        forget(saved.id);
        throw new Refusal(0, "This upload is " + upload.status + ": upload the file anew.");
      }
      return uploadParts(file, upload, row);
    });
  }

  function offerResumes() {
    var saved = remembered();
    var ids = Object.keys(saved);
    resumableList.replaceChildren();
    resumable.hidden = ids.length === 0;
    ids.forEach(function (id, index) {
      var upload = saved[id];
      var row = progressRow(upload.path, resumableList);
      var label = document.createElement("label");
      label.htmlFor = "resume-" + index;
      label.textContent = "Resume " + upload.path;
      var input = document.createElement("input");
      input.type = "file";
      input.id = "resume-" + index;
      var drop = document.createElement("button");
      drop.type = "button";
      drop.textContent = "Forget " + upload.path;
      row.item.append(label, input, drop);
      row.progress(0, 1);
      input.addEventListener("change", function () {
        if (!input.files.length) {
          return;
        }
        resume(upload, input.files[0], row).then(
          function () {
            row.finish();
            input.disabled = true;
            changed();
          },
          function (refusal) {
            row.fail(refusal);
          }
        );
      });
      drop.addEventListener("click", function () {
        callWeb("DELETE", "/files/uploads/multipart/" + id).then(
          function () {
            forget(id);
            offerResumes();
          },
          function (refusal) {
            if (refusal.status === 404) {
              forget(id);
              offerResumes();
            } else {
              row.fail(refusal);
            }
          }
        );
      });
    });
  }

  ["upload-files", "upload-folder"].forEach(function (id) {
    var input = document.getElementById(id);
    input.addEventListener("change", function () {
      var files = Array.prototype.slice.call(input.files);
      input.value = "";
      uploadAll(files);
    });
  });
  offerResumes();
})();
